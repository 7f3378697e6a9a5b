// Generated from the message classes of metalosc.protocol by
// `python -m metalosc.protocol._csharp --write`; do not edit by hand.

namespace MetalOSC.Core
{
    /// <summary>
    /// The MetalOSC address space: one constant per address of the Python
    /// <c>metalosc.protocol</c> message classes (protocol/README.md has the table).
    /// </summary>
    public static class MetalAddresses
    {
        /// <summary>client → server: Send events to the sender's host at <c>port</c> (default: the source port).</summary>
        public const string Subscribe = "/metal/subscribe";

        /// <summary>client → server: Stop sending events to the sender.</summary>
        public const string Unsubscribe = "/metal/unsubscribe";

        /// <summary>client → server: Musical intensity: 0 calm, 1 the most intense phrases the models know.</summary>
        public const string Tension = "/metal/tension";

        /// <summary>client → server: Tempo in beats per minute, applied at the next beat.</summary>
        public const string Tempo = "/metal/tempo";

        /// <summary>client → server: Morph from what plays now to a saved scene over <c>bars</c> bars (latent slerp).</summary>
        public const string Interpolate = "/metal/interpolate";

        /// <summary>client → server: Remember the current latents of every instrument as a named scene.</summary>
        public const string SceneSave = "/metal/scene/save";

        /// <summary>client → server: Forget a saved scene (and delete it from the daemon's scene file).</summary>
        public const string SceneDelete = "/metal/scene/delete";

        /// <summary>client → server: Ask for a /metal/scene/list reply naming every saved scene. server → client: The saved scenes, by name in alphabetical order: the reply to /metal/scene/list, and sent to every subscriber after a scene is saved or deleted.</summary>
        public const string SceneList = "/metal/scene/list";

        /// <summary>client → server: Start the transport.</summary>
        public const string Play = "/metal/play";

        /// <summary>client → server: Stop the transport.</summary>
        public const string Stop = "/metal/stop";

        /// <summary>client → server: Mute or unmute one instrument.</summary>
        public const string Mute = "/metal/mute";

        /// <summary>client → server: Sampling temperature of the models: low is safe and repetitive, high is wild.</summary>
        public const string Temperature = "/metal/temperature";

        /// <summary>client → server: Where tension and temperature changes land unless a message says otherwise.</summary>
        public const string Transition = "/metal/transition";

        /// <summary>client → server: The session's tonal centre from the next section on; every guitar phrase (and the bass decoded on its chords) is moved into its natural minor scale.</summary>
        public const string Key = "/metal/key";

        /// <summary>client → server: A drum fill at the next phrase: a stinger the game cues.</summary>
        public const string Fill = "/metal/fill";

        /// <summary>client → server: Start a new section at the next phrase ("the boss appears"), optionally labelled. server → client: A section starts on this beat: the game can follow the form (like a timeline marker).</summary>
        public const string Section = "/metal/section";

        /// <summary>client → server: Ask for /metal/pong with the same arguments and the server's time (clock sync, RTT).</summary>
        public const string Ping = "/metal/ping";

        /// <summary>client → server: Ask for a /metal/state reply with every parameter. server → client: Every parameter of the server; sent on request and after every change, so that TouchOSC faders follow.</summary>
        public const string State = "/metal/state";

        /// <summary>server → client: One note event; in bundle mode the bundle's timetag is when it sounds.</summary>
        public const string Note = "/metal/note";

        /// <summary>server → client: Sent on every beat of the beat clock.</summary>
        public const string Beat = "/metal/beat";

        /// <summary>server → client: A new 2-bar phrase of one instrument starts.</summary>
        public const string Phrase = "/metal/phrase";

        /// <summary>server → client: Reply to /metal/ping: its arguments, then the server's wall-clock time as the last argument (a double: a 32-bit float cannot hold a unix time to better than 128 s).</summary>
        public const string Pong = "/metal/pong";

        /// <summary>server → client: A message the server could not accept: its address and why.</summary>
        public const string Error = "/metal/error";

        /// <summary>Every address and enumerated string a server event may carry,
        /// which the decoder returns as these shared instances instead of allocating.</summary>
        public static readonly string[] KnownStrings =
        {
            "/metal/note", "/metal/beat", "/metal/phrase", "/metal/section", "/metal/pong", "/metal/state",
            "/metal/scene/list", "/metal/error", "guitar", "bass", "drums", "C", "C#", "Db", "D", "D#", "Eb",
            "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B", "phrase", "bar", "section", "",
        };
    }
}
