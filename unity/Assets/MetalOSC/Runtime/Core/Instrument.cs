using System;

namespace MetalOSC.Core
{
    /// <summary>The three instruments the server plays.</summary>
    public enum Instrument
    {
        Guitar = 0,
        Bass = 1,
        Drums = 2,
    }

    /// <summary>Wire names of <see cref="Instrument"/> ("guitar", "bass", "drums").</summary>
    public static class InstrumentNames
    {
        /// <summary>Number of instruments, for per-instrument arrays.</summary>
        public const int Count = 3;

        private static readonly string[] Names = { "guitar", "bass", "drums" };

        /// <summary>The name the protocol uses on the wire.</summary>
        public static string ToWireName(this Instrument instrument)
        {
            int index = (int)instrument;
            if (index < 0 || index >= Names.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(instrument), "unknown instrument " + index);
            }
            return Names[index];
        }

        /// <summary>Parses a wire name; exact, lower-case match as the server sends it.</summary>
        public static bool TryParse(string name, out Instrument instrument)
        {
            for (int i = 0; i < Names.Length; i++)
            {
                if (string.Equals(Names[i], name, StringComparison.Ordinal))
                {
                    instrument = (Instrument)i;
                    return true;
                }
            }
            instrument = Instrument.Guitar;
            return false;
        }
    }
}
