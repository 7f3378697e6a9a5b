using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// NTP timetag conversions. The server stamps each note bundle with the unix time at which the note
    /// should sound; OSC carries that as NTP (seconds since 1900 in the high 32 bits, a binary fraction
    /// in the low 32 bits).
    /// </summary>
    public static class OscTimeTag
    {
        /// <summary>The special timetag meaning "immediately" (OSC 1.0).</summary>
        public const ulong Immediately = 1UL;

        /// <summary>Seconds between the NTP epoch (1900-01-01) and the unix epoch (1970-01-01).</summary>
        public const double NtpUnixOffsetSeconds = 2208988800.0;

        private const double TwoPow32 = 4294967296.0;

        /// <summary>Unix seconds for an NTP timetag. Throws for <see cref="Immediately"/>, which has no time.</summary>
        public static double ToUnixSeconds(ulong ntp)
        {
            if (ntp == Immediately)
            {
                throw new ArgumentException("timetag 1 means 'immediately' and has no time", nameof(ntp));
            }
            uint seconds = (uint)(ntp >> 32);
            uint fraction = (uint)(ntp & 0xFFFFFFFFUL);
            return seconds - NtpUnixOffsetSeconds + fraction / TwoPow32;
        }

        /// <summary>NTP timetag for unix seconds, rounded to the nearest 1/2^32 s.</summary>
        public static ulong FromUnixSeconds(double unixSeconds)
        {
            double ntp = unixSeconds + NtpUnixOffsetSeconds;
            if (double.IsNaN(ntp) || ntp < 0 || ntp >= TwoPow32)
            {
                throw new ArgumentOutOfRangeException(nameof(unixSeconds), "outside the NTP era 0 range");
            }
            double whole = Math.Floor(ntp);
            double fraction = Math.Round((ntp - whole) * TwoPow32);
            ulong seconds = (ulong)whole;
            if (fraction >= TwoPow32)
            {
                seconds += 1;
                fraction = 0;
            }
            return (seconds << 32) | (ulong)fraction;
        }
    }
}
