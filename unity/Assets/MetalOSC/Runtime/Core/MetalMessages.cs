using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Builders for the client→server messages. They check the same ranges the server validates, so a
    /// bad value fails at the call site in the game with a clear message instead of coming back later as
    /// an asynchronous <c>/metal/error</c>.
    /// </summary>
    public static class MetalMessages
    {
        /// <summary>Send mode: notes inside timetagged bundles, ahead of time (the default).</summary>
        public const string ModeBundle = "bundle";

        /// <summary>Send mode: bare messages at sound time (for tools that cannot schedule).</summary>
        public const string ModeImmediate = "immediate";

        /// <summary>
        /// <c>/metal/subscribe [i port] [s mode]</c>; port null = reply to the sending port. Arguments are
        /// positional, so a mode without a port is sent with port 0 (the protocol's "source port"), and a
        /// trailing default ("bundle") is left out, giving the same bytes as the Python encoder.
        /// </summary>
        public static OscMessage Subscribe(int? port = null, string mode = null)
        {
            if (port.HasValue && (port.Value < 1 || port.Value > 65535))
            {
                throw new ArgumentOutOfRangeException(nameof(port), "port must be 1..65535, got " + port.Value);
            }
            if (mode != null && mode != ModeBundle && mode != ModeImmediate)
            {
                throw new ArgumentException("mode must be 'bundle' or 'immediate', got '" + mode + "'", nameof(mode));
            }
            var message = new OscMessage(MetalAddresses.Subscribe);
            bool sendMode = mode == ModeImmediate;
            if (port.HasValue || sendMode)
            {
                message.Add(port ?? 0);
            }
            if (sendMode)
            {
                message.Add(mode);
            }
            return message;
        }

        /// <summary><c>/metal/unsubscribe</c>.</summary>
        public static OscMessage Unsubscribe()
        {
            return new OscMessage(MetalAddresses.Unsubscribe);
        }

        /// <summary>Changes land at the next 2-bar phrase.</summary>
        public const string TransitionPhrase = "phrase";

        /// <summary>Changes land at the next bar line (the phrase in flight is cut).</summary>
        public const string TransitionBar = "bar";

        /// <summary>Changes land at the next section.</summary>
        public const string TransitionSection = "section";

        /// <summary>The tonal centres the server accepts for <see cref="Key"/>.</summary>
        public static readonly string[] KeyNames =
        {
            "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B",
        };

        /// <summary>
        /// <c>/metal/tension f [s transition]</c> with 0..1 musical intensity; <paramref name="transition"/> says
        /// where it lands ("phrase", "bar", "section"; null = the server's default).
        /// </summary>
        public static OscMessage Tension(float value, string transition = null)
        {
            CheckRange(value, 0f, 1f, nameof(value), "tension");
            var message = new OscMessage(MetalAddresses.Tension).Add(value);
            if (transition != null) message.Add(CheckTransition(transition, nameof(transition)));
            return message;
        }

        /// <summary><c>/metal/transition s</c>: where tension and temperature changes land by default.</summary>
        public static OscMessage Transition(string when)
        {
            return new OscMessage(MetalAddresses.Transition).Add(CheckTransition(when, nameof(when)));
        }

        /// <summary><c>/metal/key s</c>: the tonal centre (natural minor) from the next section on.</summary>
        public static OscMessage Key(string key)
        {
            if (Array.IndexOf(KeyNames, key) < 0)
            {
                throw new ArgumentException("key must be one of " + string.Join(", ", KeyNames) + ", got '" + key + "'", nameof(key));
            }
            return new OscMessage(MetalAddresses.Key).Add(key);
        }

        /// <summary><c>/metal/fill</c>: a drum fill at the next phrase (a stinger).</summary>
        public static OscMessage Fill()
        {
            return new OscMessage(MetalAddresses.Fill);
        }

        /// <summary><c>/metal/section [s label]</c>: a new section at the next phrase, optionally labelled.</summary>
        public static OscMessage Section(string label = "")
        {
            if (label == null || label.Length > 32)
            {
                throw new ArgumentException("label must be at most 32 characters", nameof(label));
            }
            foreach (char c in label)
            {
                if (!(char.IsLetterOrDigit(c) && c < 128) && c != '_' && c != '-')
                {
                    throw new ArgumentException("label may hold only A-Z, a-z, 0-9, _ and -, got '" + label + "'", nameof(label));
                }
            }
            var message = new OscMessage(MetalAddresses.Section);
            if (label.Length > 0) message.Add(label);
            return message;
        }

        private static string CheckTransition(string when, string name)
        {
            if (when != TransitionPhrase && when != TransitionBar && when != TransitionSection)
            {
                throw new ArgumentException("transition must be 'phrase', 'bar' or 'section', got '" + when + "'", name);
            }
            return when;
        }

        /// <summary><c>/metal/tempo f</c> in beats per minute, 40..320, applied at the next beat.</summary>
        public static OscMessage Tempo(float bpm)
        {
            CheckRange(bpm, 40f, 320f, nameof(bpm), "tempo");
            return new OscMessage(MetalAddresses.Tempo).Add(bpm);
        }

        /// <summary><c>/metal/interpolate s scene [i bars]</c>: morph to a saved scene over an even 2..64 bars.</summary>
        public static OscMessage Interpolate(string scene, int bars = 8)
        {
            CheckSceneName(scene, nameof(scene));
            if (bars < 2 || bars > 64 || bars % 2 != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(bars), "bars must be even and 2..64, got " + bars);
            }
            return new OscMessage(MetalAddresses.Interpolate).Add(scene).Add(bars);
        }

        /// <summary><c>/metal/scene/save s name</c>: 1..32 characters of [A-Za-z0-9_-].</summary>
        public static OscMessage SceneSave(string name)
        {
            CheckSceneName(name, nameof(name));
            return new OscMessage(MetalAddresses.SceneSave).Add(name);
        }

        /// <summary><c>/metal/play</c>.</summary>
        public static OscMessage Play()
        {
            return new OscMessage(MetalAddresses.Play);
        }

        /// <summary><c>/metal/stop</c>.</summary>
        public static OscMessage Stop()
        {
            return new OscMessage(MetalAddresses.Stop);
        }

        /// <summary><c>/metal/mute s instrument i 0/1</c>.</summary>
        public static OscMessage Mute(Instrument instrument, bool muted)
        {
            return new OscMessage(MetalAddresses.Mute).Add(instrument.ToWireName()).Add(muted ? 1 : 0);
        }

        /// <summary><c>/metal/temperature f</c>: sampling temperature 0.05..2.0.</summary>
        public static OscMessage Temperature(float value)
        {
            CheckRange(value, 0.05f, 2.0f, nameof(value), "temperature");
            return new OscMessage(MetalAddresses.Temperature).Add(value);
        }

        /// <summary><c>/metal/ping [args]</c>; the server echoes the args in <c>/metal/pong</c>.</summary>
        public static OscMessage Ping(params OscArgument[] args)
        {
            return new OscMessage(MetalAddresses.Ping, args ?? new OscArgument[0]);
        }

        /// <summary><c>/metal/state</c> with no arguments: ask for a state reply.</summary>
        public static OscMessage StateRequest()
        {
            return new OscMessage(MetalAddresses.State);
        }

        private static void CheckRange(float value, float min, float max, string param, string what)
        {
            if (float.IsNaN(value) || value < min || value > max)
            {
                throw new ArgumentOutOfRangeException(param, what + " must be " + min + ".." + max + ", got " + value);
            }
        }

        private static void CheckSceneName(string name, string param)
        {
            if (name == null) throw new ArgumentNullException(param);
            if (name.Length < 1 || name.Length > 32)
            {
                throw new ArgumentException("scene name must be 1..32 characters, got " + name.Length, param);
            }
            foreach (char c in name)
            {
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
                if (!ok)
                {
                    throw new ArgumentException("scene name may only use A-Z a-z 0-9 _ -, got '" + name + "'", param);
                }
            }
        }
    }
}
