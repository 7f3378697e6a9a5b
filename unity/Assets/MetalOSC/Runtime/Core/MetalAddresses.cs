namespace MetalOSC.Core
{
    /// <summary>
    /// The MetalOSC address space, mirrored from the Python <c>metalosc.protocol</c> package (protocol/README.md).
    /// Kept as constants in one place so a rename on the server side is a one-line change here.
    /// </summary>
    public static class MetalAddresses
    {
        // client -> server
        public const string Subscribe = "/metal/subscribe";
        public const string Unsubscribe = "/metal/unsubscribe";
        public const string Tension = "/metal/tension";
        public const string Tempo = "/metal/tempo";
        public const string Interpolate = "/metal/interpolate";
        public const string SceneSave = "/metal/scene/save";
        public const string SceneDelete = "/metal/scene/delete";

        /// <summary>Both directions: a bare request from the client, the saved scene names from the server.</summary>
        public const string SceneList = "/metal/scene/list";
        public const string Play = "/metal/play";
        public const string Stop = "/metal/stop";
        public const string Mute = "/metal/mute";
        public const string Temperature = "/metal/temperature";
        public const string Transition = "/metal/transition";
        public const string Key = "/metal/key";
        public const string Fill = "/metal/fill";
        public const string Ping = "/metal/ping";

        /// <summary>Both directions: a request for a new section from the client, a section start from the server.</summary>
        public const string Section = "/metal/section";

        /// <summary>Both directions: a bare request from the client, the full state from the server.</summary>
        public const string State = "/metal/state";

        // server -> client
        public const string Note = "/metal/note";
        public const string Beat = "/metal/beat";
        public const string Phrase = "/metal/phrase";
        public const string Pong = "/metal/pong";
        public const string Error = "/metal/error";

        /// <summary>Every string a server event may carry that the decoder should not allocate anew.</summary>
        public static readonly string[] KnownStrings =
        {
            Note, Beat, Phrase, Pong, State, Section, Error, "guitar", "bass", "drums", "",
            "phrase", "bar", "section", "E",
        };
    }
}
