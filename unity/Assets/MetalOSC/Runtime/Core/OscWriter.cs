using System;
using System.Collections.Generic;
using System.Text;

namespace MetalOSC.Core
{
    /// <summary>
    /// Encodes OSC messages and bundles (OSC 1.0, big-endian) into a buffer it owns and reuses, so a
    /// client sending a control change every frame does not allocate a fresh array each time.
    /// Not thread-safe: use one writer per sending thread.
    /// </summary>
    public sealed class OscWriter
    {
        private static readonly byte[] BundleHeader = Encoding.ASCII.GetBytes("#bundle\0");
        private readonly UTF8Encoding _utf8 = new UTF8Encoding(false, true);
        private byte[] _buffer;
        private int _length;

        public OscWriter(int initialCapacity = 1024)
        {
            _buffer = new byte[Math.Max(64, initialCapacity)];
        }

        /// <summary>The buffer holding the last encoded packet (valid up to <see cref="Length"/>).</summary>
        public byte[] Buffer
        {
            get { return _buffer; }
        }

        /// <summary>Length in bytes of the last encoded packet.</summary>
        public int Length
        {
            get { return _length; }
        }

        /// <summary>Encodes <paramref name="packet"/> into <see cref="Buffer"/> and returns its length.</summary>
        public int Write(OscPacket packet)
        {
            if (packet == null) throw new ArgumentNullException(nameof(packet));
            _length = 0;
            WritePacket(packet, 0);
            return _length;
        }

        /// <summary>A copy of the last encoded packet, for callers that keep the bytes.</summary>
        public byte[] ToArray()
        {
            var copy = new byte[_length];
            Array.Copy(_buffer, copy, _length);
            return copy;
        }

        /// <summary>Convenience: encodes one packet into a new array.</summary>
        public static byte[] Encode(OscPacket packet)
        {
            var writer = new OscWriter();
            writer.Write(packet);
            return writer.ToArray();
        }

        private void WritePacket(OscPacket packet, int depth)
        {
            var message = packet as OscMessage;
            if (message != null)
            {
                WriteMessage(message);
                return;
            }
            var bundle = (OscBundle)packet;
            if (depth >= OscReader.MaxBundleDepth)
            {
                // The reader would reject it; fail here, where the caller can see why.
                throw new ArgumentException("bundles nested deeper than " + OscReader.MaxBundleDepth);
            }
            WriteBytes(BundleHeader, 0, BundleHeader.Length);
            WriteUInt64(bundle.TimeTag);
            foreach (var element in bundle.Elements)
            {
                int sizePos = _length;
                WriteInt32(0);
                WritePacket(element, depth + 1);
                int size = _length - sizePos - 4;
                PutInt32(sizePos, size);
            }
        }

        private void WriteMessage(OscMessage message)
        {
            if (string.IsNullOrEmpty(message.Address) || message.Address[0] != '/')
            {
                throw new ArgumentException("OSC address must start with '/': '" + message.Address + "'");
            }
            WriteString(message.Address);
            // Type tag string: ',' then one byte per argument, NUL-terminated and padded.
            int tagStart = _length;
            int tagLength = 1 + message.Arguments.Count;
            int padded = (tagLength + 4) & ~3;
            Ensure(padded);
            _buffer[_length] = (byte)',';
            for (int i = 0; i < message.Arguments.Count; i++)
            {
                _buffer[_length + 1 + i] = (byte)message.Arguments[i].Type;
            }
            for (int i = tagLength; i < padded; i++)
            {
                _buffer[tagStart + i] = 0;
            }
            _length += padded;
            foreach (var arg in message.Arguments)
            {
                switch (arg.Type)
                {
                    case OscArgType.Int32:
                        WriteInt32(checked((int)arg.IntValue));
                        break;
                    case OscArgType.Int64:
                        WriteUInt64(unchecked((ulong)arg.IntValue));
                        break;
                    case OscArgType.Float32:
                        WriteInt32(FloatBits.ToInt32((float)arg.FloatValue));
                        break;
                    case OscArgType.Float64:
                        WriteUInt64(unchecked((ulong)BitConverter.DoubleToInt64Bits(arg.FloatValue)));
                        break;
                    case OscArgType.String:
                        WriteString(arg.StringValue);
                        break;
                    case OscArgType.True:
                    case OscArgType.False:
                        break;
                    default:
                        throw new ArgumentException("unsupported argument type '" + (char)arg.Type + "'");
                }
            }
        }

        private void WriteString(string value)
        {
            if (value == null) throw new ArgumentNullException(nameof(value));
            int byteCount = _utf8.GetByteCount(value);
            if (value.IndexOf('\0') >= 0)
            {
                throw new ArgumentException("OSC strings cannot contain NUL");
            }
            int padded = (byteCount + 4) & ~3;
            Ensure(padded);
            _utf8.GetBytes(value, 0, value.Length, _buffer, _length);
            for (int i = byteCount; i < padded; i++)
            {
                _buffer[_length + i] = 0;
            }
            _length += padded;
        }

        private void WriteInt32(int value)
        {
            Ensure(4);
            PutInt32(_length, value);
            _length += 4;
        }

        private void PutInt32(int pos, int value)
        {
            // OSC is big-endian regardless of the host; write the bytes explicitly.
            _buffer[pos] = (byte)(value >> 24);
            _buffer[pos + 1] = (byte)(value >> 16);
            _buffer[pos + 2] = (byte)(value >> 8);
            _buffer[pos + 3] = (byte)value;
        }

        private void WriteUInt64(ulong value)
        {
            WriteInt32(unchecked((int)(value >> 32)));
            WriteInt32(unchecked((int)value));
        }

        private void WriteBytes(byte[] bytes, int offset, int count)
        {
            Ensure(count);
            Array.Copy(bytes, offset, _buffer, _length, count);
            _length += count;
        }

        private void Ensure(int extra)
        {
            int needed = _length + extra;
            if (needed <= _buffer.Length) return;
            int size = _buffer.Length;
            while (size < needed) size *= 2;
            Array.Resize(ref _buffer, size);
        }
    }
}
