using System;
using System.Collections.Generic;
using System.Text;

namespace MetalOSC.Core
{
    /// <summary>
    /// Receives the messages of a decoded packet one at a time. The message object is reused for the
    /// next message, so a handler copies what it wants to keep instead of keeping the reference.
    /// </summary>
    public interface IOscMessageHandler
    {
        /// <param name="message">The decoded message (reused; valid only during the call).</param>
        /// <param name="timeTag">
        /// The timetag of the innermost enclosing bundle, or <see cref="OscTimeTag.Immediately"/> for a
        /// bare message. A nested bundle tagged "immediately" inherits its parent's time.
        /// </param>
        void OnMessage(OscMessage message, ulong timeTag);
    }

    /// <summary>
    /// Decodes OSC 1.0 packets (messages and nested bundles with i/f/s/T/F, plus h/d) from a byte range.
    /// Every read is bounds-checked against the packet's end and failures throw
    /// <see cref="OscFormatException"/> naming the problem and offset, because the bytes come from the
    /// network and one bad datagram must never take the receive loop down.
    /// Strings that match a registered known string (addresses, instrument names) are returned as the
    /// cached instance, so steady-state decoding of server events does not allocate strings.
    /// Not thread-safe: use one reader per receiving thread.
    /// </summary>
    public sealed class OscReader
    {
        /// <summary>Deepest bundle nesting accepted; deeper input is rejected rather than recursed into.</summary>
        public const int MaxBundleDepth = 8;

        private static readonly byte[] BundleTag = Encoding.ASCII.GetBytes("#bundle\0");
        private readonly UTF8Encoding _utf8 = new UTF8Encoding(false, true);
        private readonly List<byte[]> _knownBytes = new List<byte[]>();
        private readonly List<string> _knownStrings = new List<string>();
        private readonly OscMessage _message = new OscMessage("/");

        public OscReader()
        {
        }

        public OscReader(IEnumerable<string> knownStrings)
        {
            foreach (var s in knownStrings)
            {
                RegisterKnownString(s);
            }
        }

        /// <summary>Adds a string the decoder returns as a shared instance instead of allocating.</summary>
        public void RegisterKnownString(string value)
        {
            if (value == null) throw new ArgumentNullException(nameof(value));
            if (_knownStrings.Contains(value)) return;
            _knownStrings.Add(value);
            _knownBytes.Add(_utf8.GetBytes(value));
        }

        /// <summary>
        /// Decodes the packet in <paramref name="data"/>[offset, offset+count) and hands each message to
        /// <paramref name="handler"/> in order. Throws <see cref="OscFormatException"/> on malformed input;
        /// messages before the malformed part may already have been delivered.
        /// </summary>
        public void Read(byte[] data, int offset, int count, IOscMessageHandler handler)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            if (handler == null) throw new ArgumentNullException(nameof(handler));
            if (offset < 0 || count < 0 || offset > data.Length - count)
            {
                throw new ArgumentOutOfRangeException(nameof(count), "range outside the array");
            }
            ReadPacket(data, offset, offset + count, OscTimeTag.Immediately, 0, handler);
        }

        /// <summary>
        /// Decodes a whole packet into a fresh tree (allocates; for tools and tests, not the hot path).
        /// Validates everything before returning, so a malformed packet yields no partial tree.
        /// </summary>
        public OscPacket Parse(byte[] data, int offset, int count)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            if (offset < 0 || count < 0 || offset > data.Length - count)
            {
                throw new ArgumentOutOfRangeException(nameof(count), "range outside the array");
            }
            return ParseTree(data, offset, offset + count, 0);
        }

        /// <summary>Decodes a whole array with <see cref="Parse(byte[], int, int)"/>.</summary>
        public OscPacket Parse(byte[] data)
        {
            return Parse(data, 0, data == null ? 0 : data.Length);
        }

        private OscPacket ParseTree(byte[] data, int start, int end, int depth)
        {
            CheckPacketSize(start, end);
            if (!IsBundle(data, start, end))
            {
                ReadMessage(data, start, end, _message);
                var copy = new OscMessage(_message.Address);
                copy.Arguments.AddRange(_message.Arguments);
                return copy;
            }
            if (depth >= MaxBundleDepth)
            {
                throw new OscFormatException("bundles nested deeper than " + MaxBundleDepth, start);
            }
            var bundle = new OscBundle(ReadUInt64(data, start + 8, end, "bundle timetag"));
            int pos = start + 16;
            while (pos < end)
            {
                int elementEnd = ReadElementBounds(data, ref pos, end);
                bundle.Elements.Add(ParseTree(data, pos, elementEnd, depth + 1));
                pos = elementEnd;
            }
            return bundle;
        }

        private void ReadPacket(
            byte[] data, int start, int end, ulong timeTag, int depth, IOscMessageHandler handler)
        {
            CheckPacketSize(start, end);
            if (!IsBundle(data, start, end))
            {
                ReadMessage(data, start, end, _message);
                handler.OnMessage(_message, timeTag);
                return;
            }
            if (depth >= MaxBundleDepth)
            {
                throw new OscFormatException("bundles nested deeper than " + MaxBundleDepth, start);
            }
            ulong own = ReadUInt64(data, start + 8, end, "bundle timetag");
            ulong effective = own == OscTimeTag.Immediately ? timeTag : own;
            int pos = start + 16;
            while (pos < end)
            {
                int elementEnd = ReadElementBounds(data, ref pos, end);
                ReadPacket(data, pos, elementEnd, effective, depth + 1, handler);
                pos = elementEnd;
            }
        }

        private static void CheckPacketSize(int start, int end)
        {
            int size = end - start;
            if (size <= 0 || (size & 3) != 0)
            {
                throw new OscFormatException("packet size " + size + " is not a positive multiple of 4", start);
            }
        }

        private static bool IsBundle(byte[] data, int start, int end)
        {
            if (data[start] == (byte)'/') return false;
            if (data[start] != (byte)'#')
            {
                throw new OscFormatException("packet starts with neither '/' nor '#bundle'", start);
            }
            if (end - start < 16)
            {
                throw new OscFormatException("bundle shorter than its 16-byte header", start);
            }
            for (int i = 0; i < BundleTag.Length; i++)
            {
                if (data[start + i] != BundleTag[i])
                {
                    throw new OscFormatException("packet starts with '#' but not '#bundle'", start);
                }
            }
            return true;
        }

        /// <summary>Reads an element's size prefix at pos, advances pos past it, returns the element end.</summary>
        private static int ReadElementBounds(byte[] data, ref int pos, int end)
        {
            int size = ReadInt32(data, pos, end, "bundle element size");
            pos += 4;
            if (size <= 0 || (size & 3) != 0)
            {
                throw new OscFormatException("bundle element size " + size + " is not a positive multiple of 4", pos - 4);
            }
            if (size > end - pos)
            {
                throw new OscFormatException(
                    "bundle element size " + size + " runs past the end (" + (end - pos) + " bytes left)", pos - 4);
            }
            return pos + size;
        }

        private void ReadMessage(byte[] data, int start, int end, OscMessage message)
        {
            message.Arguments.Clear();
            int pos = start;
            message.Address = ReadString(data, ref pos, end, "address");
            if (pos == end)
            {
                // OSC 1.0 tolerates messages without a type tag string from old senders: no arguments.
                return;
            }
            if (data[pos] != (byte)',')
            {
                throw new OscFormatException("type tag string does not start with ','", pos);
            }
            int tagPos = pos + 1;
            int tagEnd = FindNul(data, pos, end, "type tag string");
            pos = Pad(pos, tagEnd - pos, end, "type tag string");
            for (int t = tagPos; t < tagEnd; t++)
            {
                byte tag = data[t];
                switch (tag)
                {
                    case (byte)'i':
                        message.Arguments.Add(OscArgument.Int(ReadInt32(data, pos, end, "int32 argument")));
                        pos += 4;
                        break;
                    case (byte)'f':
                        message.Arguments.Add(OscArgument.Float(
                            FloatBits.ToSingle(ReadInt32(data, pos, end, "float32 argument"))));
                        pos += 4;
                        break;
                    case (byte)'h':
                        message.Arguments.Add(OscArgument.Long(
                            unchecked((long)ReadUInt64(data, pos, end, "int64 argument"))));
                        pos += 8;
                        break;
                    case (byte)'d':
                        message.Arguments.Add(OscArgument.Double(BitConverter.Int64BitsToDouble(
                            unchecked((long)ReadUInt64(data, pos, end, "float64 argument")))));
                        pos += 8;
                        break;
                    case (byte)'s':
                        message.Arguments.Add(OscArgument.Str(ReadString(data, ref pos, end, "string argument")));
                        break;
                    case (byte)'T':
                        message.Arguments.Add(OscArgument.Bool(true));
                        break;
                    case (byte)'F':
                        message.Arguments.Add(OscArgument.Bool(false));
                        break;
                    default:
                        throw new OscFormatException("unsupported type tag '" + (char)tag + "'", t);
                }
            }
            if (pos != end)
            {
                throw new OscFormatException((end - pos) + " trailing bytes after the arguments", pos);
            }
        }

        private static int FindNul(byte[] data, int pos, int end, string what)
        {
            for (int i = pos; i < end; i++)
            {
                if (data[i] == 0) return i;
            }
            throw new OscFormatException(what + " is not NUL-terminated", pos);
        }

        private static int Pad(int start, int length, int end, string what)
        {
            int next = start + ((length + 4) & ~3);
            if (next > end)
            {
                throw new OscFormatException(what + " padding runs past the end", start);
            }
            return next;
        }

        private string ReadString(byte[] data, ref int pos, int end, string what)
        {
            int nul = FindNul(data, pos, end, what);
            int length = nul - pos;
            int next = Pad(pos, length, end, what);
            string value = Lookup(data, pos, length);
            if (value == null)
            {
                try
                {
                    value = _utf8.GetString(data, pos, length);
                }
                catch (ArgumentException)
                {
                    // DecoderFallbackException derives from ArgumentException.
                    throw new OscFormatException(what + " is not valid UTF-8", pos);
                }
            }
            pos = next;
            return value;
        }

        private string Lookup(byte[] data, int pos, int length)
        {
            for (int k = 0; k < _knownBytes.Count; k++)
            {
                byte[] known = _knownBytes[k];
                if (known.Length != length) continue;
                int i = 0;
                while (i < length && known[i] == data[pos + i]) i++;
                if (i == length) return _knownStrings[k];
            }
            return null;
        }

        private static int ReadInt32(byte[] data, int pos, int end, string what)
        {
            if (end - pos < 4)
            {
                throw new OscFormatException(what + " needs 4 bytes, " + (end - pos) + " left", pos);
            }
            // Big-endian by definition in OSC, independent of the host's byte order.
            return (data[pos] << 24) | (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3];
        }

        private static ulong ReadUInt64(byte[] data, int pos, int end, string what)
        {
            if (end - pos < 8)
            {
                throw new OscFormatException(what + " needs 8 bytes, " + (end - pos) + " left", pos);
            }
            ulong high = unchecked((uint)ReadInt32(data, pos, end, what));
            ulong low = unchecked((uint)ReadInt32(data, pos + 4, end, what));
            return (high << 32) | low;
        }
    }
}
