// Generated from the message classes of metalosc.protocol by
// `python -m metalosc.protocol._csharp --write`; do not edit by hand.

using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Builders for the client → server messages, one per address (named like its
    /// <see cref="MetalAddresses"/> constant). Each checks its arguments with the rule the
    /// server applies (<see cref="MetalRanges"/>), so a bad value fails at the call site
    /// in the game instead of coming back as an asynchronous <c>/metal/error</c>, and leaves
    /// out trailing arguments at their defaults: the bytes equal the Python encoder's.
    /// </summary>
    public static partial class MetalMessages
    {
        /// <summary><c>/metal/subscribe [i port] [s mode]</c>: Send events to the sender's host at <c>port</c> (default: the source port). Mode <c>bundle</c> sends timetagged bundles ahead of time; <c>immediate</c> sends each event when due. The lease is renewed by any message. Subscribing the same host and port again, from any source port, replaces the earlier subscription: every event arrives once.</summary>
        /// <param name="port">UDP port for events; 0 = the source port (1..65535); null: none</param>
        /// <param name="mode">delivery mode (bundle|immediate); left out at the default "bundle" when nothing after it is sent</param>
        public static OscMessage Subscribe(int? port = null, string mode = "bundle")
        {
            if (port.HasValue) MetalRanges.CheckSubscribePort(port.Value, nameof(port));
            MetalRanges.CheckSubscribeMode(mode, nameof(mode));
            var message = new OscMessage(MetalAddresses.Subscribe);
            // Trailing arguments at their defaults are left out, as the Python encoder does.
            int count = mode != "bundle" ? 2 : port.HasValue ? 1 : 0;
            if (count > 0) message.Add(port ?? 0);
            if (count > 1) message.Add(mode);
            return message;
        }

        /// <summary><c>/metal/unsubscribe</c>: Stop sending events to the sender.</summary>
        public static OscMessage Unsubscribe()
        {
            return new OscMessage(MetalAddresses.Unsubscribe);
        }

        /// <summary><c>/metal/tension f value [s transition]</c>: Musical intensity: 0 calm, 1 the most intense phrases the models know. A change lands at the next <c>transition</c> boundary (default: the daemon's), where a new section starts.</summary>
        /// <param name="value">intensity (0..1)</param>
        /// <param name="transition">where the change lands; default: /metal/transition's (phrase|bar|section); null: left out</param>
        public static OscMessage Tension(float value, string transition = null)
        {
            MetalRanges.CheckTensionValue(value, nameof(value));
            if (transition != null) MetalRanges.CheckTensionTransition(transition, nameof(transition));
            var message = new OscMessage(MetalAddresses.Tension);
            // Trailing arguments at their defaults are left out, as the Python encoder does.
            int count = transition != null ? 2 : 1;
            message.Add(value);
            if (count > 1) message.Add(transition);
            return message;
        }

        /// <summary><c>/metal/tempo f bpm</c>: Tempo in beats per minute, applied at the next beat.</summary>
        /// <param name="bpm">beats per minute (40..320)</param>
        public static OscMessage Tempo(float bpm)
        {
            MetalRanges.CheckTempoBpm(bpm, nameof(bpm));
            var message = new OscMessage(MetalAddresses.Tempo);
            message.Add(bpm);
            return message;
        }

        /// <summary><c>/metal/interpolate s scene [i bars]</c>: Morph from what plays now to a saved scene over <c>bars</c> bars (latent slerp).</summary>
        /// <param name="scene">a scene saved with /metal/scene/save (1..32 chars of [A-Za-z0-9_-])</param>
        /// <param name="bars">length, even (even, 2..64); left out at the default 8 when nothing after it is sent</param>
        public static OscMessage Interpolate(string scene, int bars = 8)
        {
            MetalRanges.CheckInterpolateScene(scene, nameof(scene));
            MetalRanges.CheckInterpolateBars(bars, nameof(bars));
            var message = new OscMessage(MetalAddresses.Interpolate);
            // Trailing arguments at their defaults are left out, as the Python encoder does.
            int count = bars != 8 ? 2 : 1;
            message.Add(scene);
            if (count > 1) message.Add(bars);
            return message;
        }

        /// <summary><c>/metal/scene/save s name</c>: Remember the current latents of every instrument as a named scene.</summary>
        /// <param name="name">scene name (1..32 chars of [A-Za-z0-9_-])</param>
        public static OscMessage SceneSave(string name)
        {
            MetalRanges.CheckSceneSaveName(name, nameof(name));
            var message = new OscMessage(MetalAddresses.SceneSave);
            message.Add(name);
            return message;
        }

        /// <summary><c>/metal/scene/delete s name</c>: Forget a saved scene (and delete it from the daemon's scene file).</summary>
        /// <param name="name">scene name (1..32 chars of [A-Za-z0-9_-])</param>
        public static OscMessage SceneDelete(string name)
        {
            MetalRanges.CheckSceneDeleteName(name, nameof(name));
            var message = new OscMessage(MetalAddresses.SceneDelete);
            message.Add(name);
            return message;
        }

        /// <summary><c>/metal/scene/list</c>: Ask for a /metal/scene/list reply naming every saved scene.</summary>
        public static OscMessage SceneList()
        {
            return new OscMessage(MetalAddresses.SceneList);
        }

        /// <summary><c>/metal/play</c>: Start the transport.</summary>
        public static OscMessage Play()
        {
            return new OscMessage(MetalAddresses.Play);
        }

        /// <summary><c>/metal/stop</c>: Stop the transport.</summary>
        public static OscMessage Stop()
        {
            return new OscMessage(MetalAddresses.Stop);
        }

        /// <summary><c>/metal/mute s instrument i muted</c>: Mute or unmute one instrument.</summary>
        /// <param name="instrument">instrument (guitar|bass|drums)</param>
        /// <param name="muted">1 = muted (0/1)</param>
        public static OscMessage Mute(string instrument, bool muted)
        {
            MetalRanges.CheckMuteInstrument(instrument, nameof(instrument));
            var message = new OscMessage(MetalAddresses.Mute);
            message.Add(instrument);
            message.Add(muted ? 1 : 0);
            return message;
        }

        /// <summary><c>/metal/temperature f value [s transition]</c>: Sampling temperature of the models: low is safe and repetitive, high is wild. A change lands at the next <c>transition</c> boundary, like a tension change.</summary>
        /// <param name="value">temperature (0.05..2)</param>
        /// <param name="transition">where the change lands; default: /metal/transition's (phrase|bar|section); null: left out</param>
        public static OscMessage Temperature(float value, string transition = null)
        {
            MetalRanges.CheckTemperatureValue(value, nameof(value));
            if (transition != null) MetalRanges.CheckTemperatureTransition(transition, nameof(transition));
            var message = new OscMessage(MetalAddresses.Temperature);
            // Trailing arguments at their defaults are left out, as the Python encoder does.
            int count = transition != null ? 2 : 1;
            message.Add(value);
            if (count > 1) message.Add(transition);
            return message;
        }

        /// <summary><c>/metal/transition s when</c>: Where tension and temperature changes land unless a message says otherwise.</summary>
        /// <param name="when">phrase, bar or section (phrase|bar|section)</param>
        public static OscMessage Transition(string when)
        {
            MetalRanges.CheckTransitionDefaultWhen(when, nameof(when));
            var message = new OscMessage(MetalAddresses.Transition);
            message.Add(when);
            return message;
        }

        /// <summary><c>/metal/key s key</c>: The session's tonal centre from the next section on; every guitar phrase (and the bass decoded on its chords) is moved into its natural minor scale.</summary>
        /// <param name="key">tonal centre (C|C#|Db|D|D#|Eb|E|F|F#|Gb|G|G#|Ab|A|A#|Bb|B)</param>
        public static OscMessage Key(string key)
        {
            MetalRanges.CheckKey(key, nameof(key));
            var message = new OscMessage(MetalAddresses.Key);
            message.Add(key);
            return message;
        }

        /// <summary><c>/metal/fill</c>: A drum fill at the next phrase: a stinger the game cues.</summary>
        public static OscMessage Fill()
        {
            return new OscMessage(MetalAddresses.Fill);
        }

        /// <summary><c>/metal/section [s label]</c>: Start a new section at the next phrase ("the boss appears"), optionally labelled.</summary>
        /// <param name="label">label for the section event (0..32 chars of [A-Za-z0-9_-]); left out at the default "" when nothing after it is sent</param>
        public static OscMessage Section(string label = "")
        {
            MetalRanges.CheckSectionRequestLabel(label, nameof(label));
            var message = new OscMessage(MetalAddresses.Section);
            // Trailing arguments at their defaults are left out, as the Python encoder does.
            int count = label != "" ? 1 : 0;
            if (count > 0) message.Add(label);
            return message;
        }

        /// <summary><c>/metal/ping [...]</c>: Ask for /metal/pong with the same arguments and the server's time (clock sync, RTT).</summary>
        /// <param name="args">echoed back</param>
        public static OscMessage Ping(params OscArgument[] args)
        {
            var message = new OscMessage(MetalAddresses.Ping);
            if (args != null)
            {
                foreach (OscArgument argument in args) message.Add(argument);
            }
            return message;
        }

        /// <summary><c>/metal/state</c>: Ask for a /metal/state reply with every parameter.</summary>
        public static OscMessage State()
        {
            return new OscMessage(MetalAddresses.State);
        }
    }
}
