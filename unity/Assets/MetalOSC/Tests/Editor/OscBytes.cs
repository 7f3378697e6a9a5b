using System;
using System.Collections.Generic;
using System.Text;
using MetalOSC.Core;

namespace MetalOSC.Tests
{
    /// <summary>Byte-level helpers for building OSC packets by hand, including broken ones.</summary>
    internal static class OscBytes
    {
        /// <summary>An OSC string: ASCII, NUL-terminated, padded to a multiple of 4.</summary>
        public static byte[] Pad(string s)
        {
            byte[] raw = Encoding.ASCII.GetBytes(s);
            var padded = new byte[(raw.Length + 4) & ~3];
            Array.Copy(raw, padded, raw.Length);
            return padded;
        }

        /// <summary>A big-endian int32.</summary>
        public static byte[] Int(int value)
        {
            return new[] { (byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value };
        }

        /// <summary>"#bundle" and the timetag "immediately".</summary>
        public static byte[] BundleHeader()
        {
            return Concat(Encoding.ASCII.GetBytes("#bundle\0"), new byte[] { 0, 0, 0, 0, 0, 0, 0, 1 });
        }

        public static byte[] Slice(byte[] bytes, int start, int count)
        {
            var result = new byte[count];
            Array.Copy(bytes, start, result, 0, count);
            return result;
        }

        public static byte[] Concat(params byte[][] parts)
        {
            var all = new List<byte>();
            foreach (var part in parts) all.AddRange(part);
            return all.ToArray();
        }

        /// <summary>The bytes of <paramref name="packet"/> without the writer's nesting limit.</summary>
        public static byte[] EncodeUnchecked(OscPacket packet)
        {
            if (packet is OscMessage) return OscWriter.Encode(packet);
            var bundle = (OscBundle)packet;
            var parts = new List<byte[]> { BundleHeader() };
            foreach (var element in bundle.Elements)
            {
                byte[] inner = EncodeUnchecked(element);
                parts.Add(Int(inner.Length));
                parts.Add(inner);
            }
            return Concat(parts.ToArray());
        }
    }

    /// <summary>Records every message the reader delivers, with its timetag.</summary>
    internal sealed class CollectingHandler : IOscMessageHandler
    {
        public readonly List<string> Addresses = new List<string>();
        public readonly List<ulong> Tags = new List<ulong>();

        public void OnMessage(OscMessage message, ulong timeTag)
        {
            Addresses.Add(message.Address);
            Tags.Add(timeTag);
        }
    }

    /// <summary>Parses every delivered message into a <see cref="MetalEvent"/>, counting the known ones.</summary>
    internal sealed class ParsingHandler : IOscMessageHandler
    {
        public int Parsed;

        public void OnMessage(OscMessage message, ulong timeTag)
        {
            MetalEvent ev;
            if (MetalEventParser.TryParse(message, timeTag, out ev)) Parsed++;
        }
    }
}
