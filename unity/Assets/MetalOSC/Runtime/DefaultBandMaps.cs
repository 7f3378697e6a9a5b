using System.Collections.Generic;
using MetalOSC.Core;
using UnityEngine;

namespace MetalOSC
{
    /// <summary>
    /// Sample maps from the default band's clips (the package's "Default Band" sample), recognised by
    /// name (<see cref="DefaultBand.TryParseSampleName"/>), with the band's playback settings: guitar and
    /// bass re-pitched by at most a semitone, drums exact and ringing out.
    /// </summary>
    public static class DefaultBandMaps
    {
        /// <summary>
        /// One map per instrument that has clips among <paramref name="clips"/>, samples sorted by
        /// pitch; clips whose names do not follow the convention are ignored. New maps on every call.
        /// </summary>
        public static InstrumentSampleMap[] FromClips(IEnumerable<AudioClip> clips)
        {
            var byInstrument = new List<PitchedSample>[InstrumentNames.Count];
            foreach (AudioClip clip in clips)
            {
                Instrument instrument;
                int pitch;
                if (clip == null || !DefaultBand.TryParseSampleName(clip.name, out instrument, out pitch)) continue;
                if (byInstrument[(int)instrument] == null) byInstrument[(int)instrument] = new List<PitchedSample>();
                byInstrument[(int)instrument].Add(new PitchedSample { pitch = pitch, clip = clip });
            }
            var maps = new List<InstrumentSampleMap>();
            for (int i = 0; i < byInstrument.Length; i++)
            {
                if (byInstrument[i] == null) continue;
                var instrument = (Instrument)i;
                byInstrument[i].Sort((a, b) => a.pitch.CompareTo(b.pitch));
                maps.Add(new InstrumentSampleMap
                {
                    instrument = instrument,
                    samples = byInstrument[i].ToArray(),
                    maxShiftSemitones = DefaultBand.MaxShiftSemitones(instrument),
                    ringOut = DefaultBand.RingOut(instrument),
                });
            }
            return maps.ToArray();
        }

        /// <summary>
        /// The maps of the imported sample, from every <c>Resources/MetalOSC/DefaultBand</c> folder in the
        /// project; empty when the sample has not been imported.
        /// </summary>
        public static InstrumentSampleMap[] LoadFromResources()
        {
            return FromClips(Resources.LoadAll<AudioClip>(DefaultBand.ResourcesFolder));
        }
    }
}
