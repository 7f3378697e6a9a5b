using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// A well-formed OSC message that does not fit the MetalOSC address space: an unknown address,
    /// the wrong argument count or types, or an unknown instrument. Separate from
    /// <see cref="OscFormatException"/> because the bytes were fine and only the meaning is wrong.
    /// </summary>
    public sealed class MetalProtocolException : Exception
    {
        /// <summary>The OSC address of the offending message.</summary>
        public string Address { get; }

        /// <summary>What is wrong with it.</summary>
        public string Reason { get; }

        public MetalProtocolException(string address, string reason)
            : base(address + ": " + reason)
        {
            Address = address;
            Reason = reason;
        }
    }
}
