using System;

namespace MetalOSC.Core
{
    /// <summary><c>/metal/note s instrument, i pitch, i velocity, f duration_s, f beat</c>.</summary>
    public struct NoteEvent
    {
        public Instrument Instrument;

        /// <summary>MIDI pitch; for drums a General MIDI drum note.</summary>
        public int Pitch;

        /// <summary>MIDI velocity 1..127.</summary>
        public int Velocity;

        /// <summary>How long the note sounds, in seconds at the tempo it was scheduled with.</summary>
        public float DurationSeconds;

        /// <summary>The note's position in beats within its phrase (musical time, for visuals).</summary>
        public float Beat;
    }

    /// <summary><c>/metal/beat i bar, i beat</c>, sent every beat.</summary>
    public struct BeatEvent
    {
        public int Bar;
        public int Beat;

        /// <summary>When the beat falls on the local DSP clock (set when the event is raised).</summary>
        public double LocalDspTime;
    }

    /// <summary><c>/metal/phrase s instrument, i id, f tension</c>, sent when a new 2-bar phrase starts.</summary>
    public struct PhraseEvent
    {
        public Instrument Instrument;
        public int Id;
        public float Tension;

        /// <summary>When the phrase starts on the local DSP clock (set when the event is raised).</summary>
        public double LocalDspTime;
    }

    /// <summary>
    /// <c>/metal/state i playing, f tension, f bpm, f temperature, i guitar_muted, i bass_muted,
    /// i drums_muted, s scene, s key, s transition</c>, sent after every change so UIs can follow the server.
    /// </summary>
    public struct StateEvent
    {
        public bool Playing;
        public float Tension;
        public float Bpm;
        public float Temperature;
        public bool GuitarMuted;
        public bool BassMuted;
        public bool DrumsMuted;

        /// <summary>Scene being morphed to; empty when no interpolation is running.</summary>
        public string Scene;

        /// <summary>Tonal centre (natural minor) of the music, e.g. "E".</summary>
        public string Key;

        /// <summary>Where tension and temperature changes land by default: "phrase", "bar" or "section".</summary>
        public string Transition;

        /// <summary>Whether <paramref name="instrument"/> is muted.</summary>
        public bool IsMuted(Instrument instrument)
        {
            switch (instrument)
            {
                case Instrument.Guitar: return GuitarMuted;
                case Instrument.Bass: return BassMuted;
                default: return DrumsMuted;
            }
        }
    }

    /// <summary>
    /// <c>/metal/section i index, s label, s key, f tension</c>: a section of the music starts on this bundle's
    /// time (like a timeline marker the game can follow).
    /// </summary>
    public struct SectionEvent
    {
        public int Index;
        public string Label;
        public string Key;
        public float Tension;

        /// <summary>When the section starts on the local DSP clock (set when the event is raised).</summary>
        public double LocalDspTime;
    }

    /// <summary><c>/metal/error s address, s reason</c>: the server rejected one of our messages.</summary>
    public struct ErrorEvent
    {
        public string Address;
        public string Reason;
    }

    /// <summary><c>/metal/pong &lt;args...&gt; server_time</c>: the echo of a ping plus the server's unix time.</summary>
    public struct PongEvent
    {
        /// <summary>The ping's arguments, echoed back (the server time is not included).</summary>
        public OscArgument[] Arguments;

        /// <summary>The server's unix time when it answered, in seconds.</summary>
        public double ServerTime;
    }

    /// <summary>
    /// A note mapped onto the local audio clock, ready for <c>AudioSource.PlayScheduled</c>.
    /// </summary>
    public struct ScheduledNote
    {
        public Instrument Instrument;
        public int Pitch;
        public int Velocity;
        public float DurationSeconds;
        public float Beat;

        /// <summary>The raw NTP timetag of the bundle that carried it (1 = immediately).</summary>
        public ulong TimeTag;

        /// <summary>When the server wants it to sound, unix seconds; NaN for "immediately".</summary>
        public double SoundTimeUnix;

        /// <summary>The same instant on the local DSP clock (e.g. Unity's AudioSettings.dspTime).</summary>
        public double LocalDspTime;

        /// <summary>True when the note was sent without a time and should play as soon as possible.</summary>
        public bool IsImmediate
        {
            get { return double.IsNaN(SoundTimeUnix); }
        }
    }

    /// <summary>Which field of <see cref="MetalEvent"/> is set.</summary>
    public enum MetalEventKind
    {
        Note,
        Beat,
        Phrase,
        State,
        Section,
        Error,
        Pong,

        /// <summary>A datagram that could not be decoded; <see cref="MetalEvent.Problem"/> says why.</summary>
        DecodeFailure,
    }

    /// <summary>
    /// One decoded server event as a tagged value type, so the receive thread can queue events of every
    /// kind in arrival order without allocating an object per event.
    /// </summary>
    public struct MetalEvent
    {
        public MetalEventKind Kind;
        public NoteEvent Note;

        /// <summary>The NTP timetag of the enclosing bundle (1 = immediately, or a bare message).</summary>
        public ulong TimeTag;
        public BeatEvent Beat;
        public PhraseEvent Phrase;
        public StateEvent State;
        public SectionEvent Section;
        public ErrorEvent Error;
        public PongEvent Pong;

        /// <summary>For pongs: the local clock when the datagram arrived (for clock sync).</summary>
        public double ReceivedLocalTime;

        /// <summary>For decode failures: what was wrong.</summary>
        public string Problem;
    }
}
