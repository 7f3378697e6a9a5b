using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// The one error a malformed OSC packet raises. The decoder checks every length and offset itself
    /// and throws this instead of letting an <see cref="IndexOutOfRangeException"/> escape, so a single
    /// bad datagram from the network can be counted and skipped without crashing the receive loop.
    /// </summary>
    public sealed class OscFormatException : Exception
    {
        /// <summary>Byte offset into the packet where the problem was found (-1 when not known).</summary>
        public int Offset { get; }

        /// <summary>What is wrong, without the offset, so callers can group failures.</summary>
        public string Reason { get; }

        public OscFormatException(string reason, int offset)
            : base(offset >= 0 ? reason + " (at byte " + offset + ")" : reason)
        {
            Reason = reason;
            Offset = offset;
        }
    }
}
