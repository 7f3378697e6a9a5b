using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Picks which recorded sample plays a MIDI pitch. Melodic instruments are usually sampled every
    /// few semitones and re-pitched to the notes in between (ratio 2^(semitones/12)); drums must match
    /// exactly, because a re-pitched snare is not a tom. Pure, so the Unity side only looks up clips.
    /// </summary>
    public static class SampleSelection
    {
        /// <summary>
        /// Index into <paramref name="samplePitches"/> of the sample to play <paramref name="pitch"/>
        /// with, or -1 when none is within <paramref name="maxShiftSemitones"/> (0 = exact match only).
        /// Ties go to the lower sample: pitching up sounds more natural than down for plucked strings.
        /// </summary>
        public static int Nearest(int[] samplePitches, int pitch, int maxShiftSemitones)
        {
            if (samplePitches == null) throw new ArgumentNullException(nameof(samplePitches));
            if (maxShiftSemitones < 0) throw new ArgumentOutOfRangeException(nameof(maxShiftSemitones), "must not be negative");
            int best = -1;
            int bestDistance = int.MaxValue;
            for (int i = 0; i < samplePitches.Length; i++)
            {
                int distance = Math.Abs(samplePitches[i] - pitch);
                if (distance > maxShiftSemitones) continue;
                if (best < 0 || distance < bestDistance
                    || (distance == bestDistance && samplePitches[i] < samplePitches[best]))
                {
                    best = i;
                    bestDistance = distance;
                }
            }
            return best;
        }

        /// <summary>Playback-rate ratio that turns a sample recorded at <paramref name="samplePitch"/> into <paramref name="pitch"/>.</summary>
        public static float PitchRatio(int samplePitch, int pitch)
        {
            return (float)Math.Pow(2.0, (pitch - samplePitch) / 12.0);
        }

        /// <summary>
        /// Linear gain for a MIDI velocity: a square law, close to how loud players perceive velocity,
        /// scaled by the instrument's volume.
        /// </summary>
        public static float Gain(int velocity, float volume)
        {
            float v = Math.Max(0, Math.Min(127, velocity)) / 127f;
            return v * v * volume;
        }
    }
}
