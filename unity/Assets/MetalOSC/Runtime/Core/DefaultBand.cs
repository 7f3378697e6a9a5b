using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// The naming convention and playback settings of the default band: the package's "Default Band"
    /// sample, one-shots rendered from the FluidR3_GM soundfont by <c>metalosc-train band-samples</c>.
    /// A sample is named <c>&lt;instrument&gt;_&lt;pitch&gt;[_&lt;anything&gt;]</c> — the instrument's wire name,
    /// the MIDI pitch it sounds at (three digits), then a note or drum name for people:
    /// <c>guitar_040_E2</c>, <c>bass_028_E1</c>, <c>drums_036_kick</c>. Guitar and bass are sampled every
    /// <see cref="SampleStep"/> semitones over the pitches the shipped models can play, so any note is at
    /// most one semitone from a sample; the drums once per General MIDI note the drums model plays.
    /// </summary>
    public static class DefaultBand
    {
        /// <summary>
        /// The folder, under any <c>Resources</c> folder, the imported sample keeps its clips in
        /// (<c>Resources.LoadAll&lt;AudioClip&gt;(ResourcesFolder)</c>).
        /// </summary>
        public const string ResourcesFolder = "MetalOSC/DefaultBand";

        /// <summary>Semitones between two samples of a melodic instrument.</summary>
        public const int SampleStep = 3;

        /// <summary>
        /// How far a sample may be re-pitched: half a step either way for guitar and bass (every pitch
        /// then has a sample within reach), none for drums (a re-pitched snare is not a tom).
        /// </summary>
        public static int MaxShiftSemitones(Instrument instrument)
        {
            return instrument == Instrument.Drums ? 0 : SampleStep / 2;
        }

        /// <summary>Drum hits ring out to their natural end; guitar and bass stop with the note.</summary>
        public static bool RingOut(Instrument instrument)
        {
            return instrument == Instrument.Drums;
        }

        /// <summary>The file extensions a sample may have (Unity imports these as audio clips).</summary>
        public static readonly string[] AudioExtensions = { ".ogg", ".wav", ".aif", ".aiff", ".mp3" };

        /// <summary>
        /// Reads a sample's instrument and pitch from its name (an asset name, or a file name with
        /// its extension). False for any name outside the convention, so other files in the folder
        /// (the licence notice) are skipped.
        /// </summary>
        public static bool TryParseSampleName(string name, out Instrument instrument, out int pitch)
        {
            instrument = Instrument.Guitar;
            pitch = -1;
            if (string.IsNullOrEmpty(name)) return false;
            int dot = name.IndexOf('.');
            string stem = dot < 0 ? name : name.Substring(0, dot);
            // One audio extension at most: "guitar_040_E2.ogg.meta" is Unity's, not a sample.
            if (dot >= 0 && Array.IndexOf(AudioExtensions, name.Substring(dot).ToLowerInvariant()) < 0) return false;
            string[] parts = stem.Split('_');
            if (parts.Length < 2 || parts[1].Length != 3) return false;
            if (!InstrumentNames.TryParse(parts[0], out instrument)) return false;
            int value = 0;
            foreach (char c in parts[1])
            {
                if (c < '0' || c > '9') return false;
                value = value * 10 + (c - '0');
            }
            if (value < MetalRanges.NotePitchMin || value > MetalRanges.NotePitchMax) return false;
            pitch = value;
            return true;
        }

        /// <summary>The conventional name (without extension) of a sample, e.g. <c>guitar_040</c>.</summary>
        public static string SampleStem(Instrument instrument, int pitch)
        {
            if (pitch < MetalRanges.NotePitchMin || pitch > MetalRanges.NotePitchMax)
            {
                throw new ArgumentOutOfRangeException(nameof(pitch), pitch, "a MIDI pitch is 0..127");
            }
            return instrument.ToWireName() + "_" + pitch.ToString("D3", System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
