using System;
using System.Collections.Generic;
using System.Text;

namespace MetalOSC.Core
{
    /// <summary>An OSC packet: either a message or a bundle (which nests packets).</summary>
    public abstract class OscPacket
    {
    }

    /// <summary>
    /// An OSC message: an address and its arguments. Mutable on purpose: the receive path decodes every
    /// datagram into one reused instance instead of allocating a message per packet.
    /// </summary>
    public sealed class OscMessage : OscPacket
    {
        /// <summary>The OSC address, e.g. "/metal/note".</summary>
        public string Address;

        /// <summary>The arguments in order.</summary>
        public readonly List<OscArgument> Arguments;

        public OscMessage(string address)
        {
            Address = address;
            Arguments = new List<OscArgument>(8);
        }

        public OscMessage(string address, params OscArgument[] arguments)
        {
            Address = address;
            Arguments = new List<OscArgument>(arguments);
        }

        /// <summary>Number of arguments.</summary>
        public int Count
        {
            get { return Arguments.Count; }
        }

        /// <summary>Argument at <paramref name="index"/>.</summary>
        public OscArgument this[int index]
        {
            get { return Arguments[index]; }
        }

        public OscMessage Add(int value)
        {
            Arguments.Add(OscArgument.Int(value));
            return this;
        }

        public OscMessage Add(float value)
        {
            Arguments.Add(OscArgument.Float(value));
            return this;
        }

        public OscMessage Add(double value)
        {
            Arguments.Add(OscArgument.Double(value));
            return this;
        }

        public OscMessage Add(string value)
        {
            Arguments.Add(OscArgument.Str(value));
            return this;
        }

        public OscMessage Add(bool value)
        {
            Arguments.Add(OscArgument.Bool(value));
            return this;
        }

        public OscMessage Add(OscArgument value)
        {
            Arguments.Add(value);
            return this;
        }

        public override string ToString()
        {
            var sb = new StringBuilder(Address);
            foreach (var arg in Arguments)
            {
                sb.Append(' ').Append(arg.ToString());
            }
            return sb.ToString();
        }
    }

    /// <summary>
    /// An OSC bundle: an NTP timetag (when its messages should take effect) and its elements, which may
    /// themselves be bundles.
    /// </summary>
    public sealed class OscBundle : OscPacket
    {
        /// <summary>64-bit NTP timetag; <see cref="OscTimeTag.Immediately"/> (1) means "now".</summary>
        public ulong TimeTag;

        /// <summary>Messages and nested bundles, in order.</summary>
        public readonly List<OscPacket> Elements = new List<OscPacket>();

        public OscBundle(ulong timeTag)
        {
            TimeTag = timeTag;
        }

        public OscBundle Add(OscPacket element)
        {
            if (element == null) throw new ArgumentNullException(nameof(element));
            Elements.Add(element);
            return this;
        }
    }
}
