using System;
using MetalOSC.Core;
using UnityEngine;

namespace MetalOSC
{
    /// <summary>One recorded sample and the MIDI pitch it was recorded at.</summary>
    [Serializable]
    public struct PitchedSample
    {
        [Tooltip("MIDI pitch of the recording (drums: the General MIDI drum note it stands for).")]
        public int pitch;

        public AudioClip clip;
    }

    /// <summary>
    /// The samples one instrument plays with, set up in the Inspector. Drums want
    /// <see cref="maxShiftSemitones"/> 0 and <see cref="ringOut"/> on; guitar and bass can be sampled
    /// every few semitones and re-pitched.
    /// </summary>
    [Serializable]
    public sealed class InstrumentSampleMap
    {
        public Instrument instrument;

        public PitchedSample[] samples = new PitchedSample[0];

        [Tooltip("How far a sample may be re-pitched, in semitones (0 = exact pitch only).")]
        [Range(0, 24)]
        public int maxShiftSemitones = 12;

        [Tooltip("Let each sample play to its end instead of stopping it after the note's duration.")]
        public bool ringOut;

        [Range(0f, 1f)]
        public float volume = 1f;

        [Tooltip("AudioSources for this instrument; more voices, fewer cut-off notes.")]
        [Range(1, 64)]
        public int voices = 16;

        /// <summary>The sample pitches as an array, for <see cref="SampleSelection.Nearest"/>.</summary>
        public int[] Pitches()
        {
            var pitches = new int[samples.Length];
            for (int i = 0; i < samples.Length; i++) pitches[i] = samples[i].pitch;
            return pitches;
        }
    }
}
