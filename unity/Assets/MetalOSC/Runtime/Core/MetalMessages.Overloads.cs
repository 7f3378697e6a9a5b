namespace MetalOSC.Core
{
    /// <summary>
    /// Hand-written conveniences over the generated builders (MetalMessages.cs): names for the
    /// enumerated strings the game passes most, and typed overloads. Every value here is one the
    /// generated <see cref="MetalRanges"/> allows (a test holds them to it).
    /// </summary>
    public static partial class MetalMessages
    {
        /// <summary>Send mode: notes inside timetagged bundles, ahead of time (the default).</summary>
        public const string ModeBundle = MetalRanges.SubscribeModeDefault;

        /// <summary>Send mode: bare messages at sound time (for tools that cannot schedule).</summary>
        public const string ModeImmediate = "immediate";

        /// <summary>Changes land at the next 2-bar phrase.</summary>
        public const string TransitionPhrase = "phrase";

        /// <summary>Changes land at the next bar line (the phrase in flight is cut).</summary>
        public const string TransitionBar = "bar";

        /// <summary>Changes land at the next section.</summary>
        public const string TransitionSection = "section";

        /// <summary><c>/metal/mute s instrument i 0/1</c> for an <see cref="Instrument"/>.</summary>
        public static OscMessage Mute(Instrument instrument, bool muted)
        {
            return Mute(instrument.ToWireName(), muted);
        }
    }
}
