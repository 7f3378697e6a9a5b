using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Maps a note's bundle timetag (server unix time, as NTP) to the local DSP clock:
    /// server time → local clock via <see cref="ClockSync"/>, local clock → DSP via
    /// <see cref="DspClockMapper"/>. Pure, so the timing arithmetic is tested without sockets.
    /// </summary>
    public static class NoteScheduling
    {
        /// <summary>
        /// Builds the <see cref="ScheduledNote"/> for <paramref name="note"/> carried under
        /// <paramref name="timeTag"/>. Notes tagged "immediately" are scheduled at
        /// <paramref name="dspNow"/> (play as soon as possible).
        /// </summary>
        public static ScheduledNote Schedule(
            NoteEvent note, ulong timeTag, ClockSync clock, DspClockMapper dsp, double dspNow)
        {
            if (clock == null) throw new ArgumentNullException(nameof(clock));
            if (dsp == null) throw new ArgumentNullException(nameof(dsp));
            var scheduled = new ScheduledNote
            {
                Instrument = note.Instrument,
                Pitch = note.Pitch,
                Velocity = note.Velocity,
                DurationSeconds = note.DurationSeconds,
                Beat = note.Beat,
                TimeTag = timeTag,
            };
            scheduled.SoundTimeUnix = timeTag == OscTimeTag.Immediately
                ? double.NaN : OscTimeTag.ToUnixSeconds(timeTag);
            scheduled.LocalDspTime = ToDspTime(timeTag, clock, dsp, dspNow);
            return scheduled;
        }

        /// <summary>
        /// The DSP time of a bundle timetag; <paramref name="dspNow"/> for "immediately". Also used for
        /// beats and phrase starts, so visuals can be timed like the audio.
        /// </summary>
        public static double ToDspTime(ulong timeTag, ClockSync clock, DspClockMapper dsp, double dspNow)
        {
            if (clock == null) throw new ArgumentNullException(nameof(clock));
            if (dsp == null) throw new ArgumentNullException(nameof(dsp));
            if (timeTag == OscTimeTag.Immediately) return dspNow;
            return dsp.LocalToDsp(clock.ServerToLocal(OscTimeTag.ToUnixSeconds(timeTag)));
        }
    }
}
