// Generated from the message classes of metalosc.protocol by
// `python -m metalosc.protocol._csharp --write`; do not edit by hand.

using System;
using System.Collections.ObjectModel;
using System.Text.RegularExpressions;

namespace MetalOSC.Core
{
    /// <summary>
    /// What the server accepts, per message class of <c>metalosc.protocol</c>: argument
    /// counts, and each argument's bounds, lengths, pattern, allowed values and default.
    /// The <c>Check…</c> methods apply the server's rule to a client → server argument, so
    /// a bad value fails where it is built instead of coming back as <c>/metal/error</c>.
    /// Float bounds are the nearest float32 inside the range.
    /// </summary>
    public static class MetalRanges
    {
        // --- /metal/subscribe (client → server): Subscribe

        /// <summary>/metal/subscribe (client → server): fewest arguments.</summary>
        public const int SubscribeMinArgs = 0;
        /// <summary>/metal/subscribe (client → server): most arguments.</summary>
        public const int SubscribeMaxArgs = 2;
        /// <summary>/metal/subscribe port: least value allowed.</summary>
        public const int SubscribePortMin = 1;
        /// <summary>/metal/subscribe port: greatest value allowed.</summary>
        public const int SubscribePortMax = 65535;
        /// <summary>/metal/subscribe port: the wire value standing for none (UDP port for events; 0 = the source port).</summary>
        public const int SubscribePortNone = 0;
        /// <summary>/metal/subscribe mode: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> SubscribeModeValues =
            Array.AsReadOnly(new[] { "bundle", "immediate" });
        /// <summary>/metal/subscribe mode: the default.</summary>
        public const string SubscribeModeDefault = "bundle";

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/subscribe port: 1..65535.</summary>
        public static void CheckSubscribePort(int value, string paramName)
        {
            if (!(value >= SubscribePortMin && value <= SubscribePortMax))
            {
                throw new ArgumentOutOfRangeException(
                    paramName, value, "/metal/subscribe port must be 1..65535");
            }
        }

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/subscribe mode: bundle|immediate.</summary>
        public static void CheckSubscribeMode(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (!SubscribeModeValues.Contains(value))
            {
                throw new ArgumentException(
                    "/metal/subscribe mode must be bundle|immediate, got '" + value + "'", paramName);
            }
        }

        // --- /metal/unsubscribe (client → server): Unsubscribe

        /// <summary>/metal/unsubscribe (client → server): fewest arguments.</summary>
        public const int UnsubscribeMinArgs = 0;
        /// <summary>/metal/unsubscribe (client → server): most arguments.</summary>
        public const int UnsubscribeMaxArgs = 0;

        // --- /metal/tension (client → server): Tension

        /// <summary>/metal/tension (client → server): fewest arguments.</summary>
        public const int TensionMinArgs = 1;
        /// <summary>/metal/tension (client → server): most arguments.</summary>
        public const int TensionMaxArgs = 2;
        /// <summary>/metal/tension value: least value allowed.</summary>
        public const float TensionValueMin = 0.0f;
        /// <summary>/metal/tension value: greatest value allowed.</summary>
        public const float TensionValueMax = 1.0f;
        /// <summary>/metal/tension transition: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> TensionTransitionValues =
            Array.AsReadOnly(new[] { "phrase", "bar", "section" });

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/tension value: 0..1.</summary>
        public static void CheckTensionValue(float value, string paramName)
        {
            if (!(value >= TensionValueMin && value <= TensionValueMax))
            {
                throw new ArgumentOutOfRangeException(
                    paramName, value, "/metal/tension value must be 0..1");
            }
        }

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/tension transition: phrase|bar|section.</summary>
        public static void CheckTensionTransition(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (!TensionTransitionValues.Contains(value))
            {
                throw new ArgumentException(
                    "/metal/tension transition must be phrase|bar|section, got '" + value + "'", paramName);
            }
        }

        // --- /metal/tempo (client → server): Tempo

        /// <summary>/metal/tempo (client → server): fewest arguments.</summary>
        public const int TempoMinArgs = 1;
        /// <summary>/metal/tempo (client → server): most arguments.</summary>
        public const int TempoMaxArgs = 1;
        /// <summary>/metal/tempo bpm: least value allowed.</summary>
        public const float TempoBpmMin = 40.0f;
        /// <summary>/metal/tempo bpm: greatest value allowed.</summary>
        public const float TempoBpmMax = 320.0f;

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/tempo bpm: 40..320.</summary>
        public static void CheckTempoBpm(float value, string paramName)
        {
            if (!(value >= TempoBpmMin && value <= TempoBpmMax))
            {
                throw new ArgumentOutOfRangeException(
                    paramName, value, "/metal/tempo bpm must be 40..320");
            }
        }

        // --- /metal/interpolate (client → server): Interpolate

        /// <summary>/metal/interpolate (client → server): fewest arguments.</summary>
        public const int InterpolateMinArgs = 1;
        /// <summary>/metal/interpolate (client → server): most arguments.</summary>
        public const int InterpolateMaxArgs = 2;
        /// <summary>/metal/interpolate scene: fewest characters.</summary>
        public const int InterpolateSceneMinLength = 1;
        /// <summary>/metal/interpolate scene: most characters.</summary>
        public const int InterpolateSceneMaxLength = 32;
        /// <summary>/metal/interpolate scene: the regular expression the whole text matches.</summary>
        public const string InterpolateScenePattern = "^[A-Za-z0-9_-]+\\z";
        /// <summary>/metal/interpolate bars: least value allowed.</summary>
        public const int InterpolateBarsMin = 2;
        /// <summary>/metal/interpolate bars: greatest value allowed.</summary>
        public const int InterpolateBarsMax = 64;
        /// <summary>/metal/interpolate bars: a multiple of.</summary>
        public const int InterpolateBarsMultipleOf = 2;
        /// <summary>/metal/interpolate bars: the default.</summary>
        public const int InterpolateBarsDefault = 8;

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/interpolate scene: 1..32 chars of [A-Za-z0-9_-].</summary>
        public static void CheckInterpolateScene(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (value.Length < InterpolateSceneMinLength || value.Length > InterpolateSceneMaxLength || !Regex.IsMatch(value, InterpolateScenePattern))
            {
                throw new ArgumentException(
                    "/metal/interpolate scene must be 1..32 chars of [A-Za-z0-9_-], got '" + value + "'", paramName);
            }
        }

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/interpolate bars: even, 2..64.</summary>
        public static void CheckInterpolateBars(int value, string paramName)
        {
            if (!(value >= InterpolateBarsMin && value <= InterpolateBarsMax && value % InterpolateBarsMultipleOf == 0))
            {
                throw new ArgumentOutOfRangeException(
                    paramName, value, "/metal/interpolate bars must be even, 2..64");
            }
        }

        // --- /metal/scene/save (client → server): SceneSave

        /// <summary>/metal/scene/save (client → server): fewest arguments.</summary>
        public const int SceneSaveMinArgs = 1;
        /// <summary>/metal/scene/save (client → server): most arguments.</summary>
        public const int SceneSaveMaxArgs = 1;
        /// <summary>/metal/scene/save name: fewest characters.</summary>
        public const int SceneSaveNameMinLength = 1;
        /// <summary>/metal/scene/save name: most characters.</summary>
        public const int SceneSaveNameMaxLength = 32;
        /// <summary>/metal/scene/save name: the regular expression the whole text matches.</summary>
        public const string SceneSaveNamePattern = "^[A-Za-z0-9_-]+\\z";

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/scene/save name: 1..32 chars of [A-Za-z0-9_-].</summary>
        public static void CheckSceneSaveName(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (value.Length < SceneSaveNameMinLength || value.Length > SceneSaveNameMaxLength || !Regex.IsMatch(value, SceneSaveNamePattern))
            {
                throw new ArgumentException(
                    "/metal/scene/save name must be 1..32 chars of [A-Za-z0-9_-], got '" + value + "'", paramName);
            }
        }

        // --- /metal/scene/delete (client → server): SceneDelete

        /// <summary>/metal/scene/delete (client → server): fewest arguments.</summary>
        public const int SceneDeleteMinArgs = 1;
        /// <summary>/metal/scene/delete (client → server): most arguments.</summary>
        public const int SceneDeleteMaxArgs = 1;
        /// <summary>/metal/scene/delete name: fewest characters.</summary>
        public const int SceneDeleteNameMinLength = 1;
        /// <summary>/metal/scene/delete name: most characters.</summary>
        public const int SceneDeleteNameMaxLength = 32;
        /// <summary>/metal/scene/delete name: the regular expression the whole text matches.</summary>
        public const string SceneDeleteNamePattern = "^[A-Za-z0-9_-]+\\z";

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/scene/delete name: 1..32 chars of [A-Za-z0-9_-].</summary>
        public static void CheckSceneDeleteName(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (value.Length < SceneDeleteNameMinLength || value.Length > SceneDeleteNameMaxLength || !Regex.IsMatch(value, SceneDeleteNamePattern))
            {
                throw new ArgumentException(
                    "/metal/scene/delete name must be 1..32 chars of [A-Za-z0-9_-], got '" + value + "'", paramName);
            }
        }

        // --- /metal/scene/list (client → server): SceneListRequest

        /// <summary>/metal/scene/list (client → server): fewest arguments.</summary>
        public const int SceneListRequestMinArgs = 0;
        /// <summary>/metal/scene/list (client → server): most arguments.</summary>
        public const int SceneListRequestMaxArgs = 0;

        // --- /metal/play (client → server): Play

        /// <summary>/metal/play (client → server): fewest arguments.</summary>
        public const int PlayMinArgs = 0;
        /// <summary>/metal/play (client → server): most arguments.</summary>
        public const int PlayMaxArgs = 0;

        // --- /metal/stop (client → server): Stop

        /// <summary>/metal/stop (client → server): fewest arguments.</summary>
        public const int StopMinArgs = 0;
        /// <summary>/metal/stop (client → server): most arguments.</summary>
        public const int StopMaxArgs = 0;

        // --- /metal/mute (client → server): Mute

        /// <summary>/metal/mute (client → server): fewest arguments.</summary>
        public const int MuteMinArgs = 2;
        /// <summary>/metal/mute (client → server): most arguments.</summary>
        public const int MuteMaxArgs = 2;
        /// <summary>/metal/mute instrument: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> MuteInstrumentValues =
            Array.AsReadOnly(new[] { "guitar", "bass", "drums" });

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/mute instrument: guitar|bass|drums.</summary>
        public static void CheckMuteInstrument(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (!MuteInstrumentValues.Contains(value))
            {
                throw new ArgumentException(
                    "/metal/mute instrument must be guitar|bass|drums, got '" + value + "'", paramName);
            }
        }

        // --- /metal/temperature (client → server): Temperature

        /// <summary>/metal/temperature (client → server): fewest arguments.</summary>
        public const int TemperatureMinArgs = 1;
        /// <summary>/metal/temperature (client → server): most arguments.</summary>
        public const int TemperatureMaxArgs = 2;
        /// <summary>/metal/temperature value: least value allowed.</summary>
        public const float TemperatureValueMin = 0.05f;
        /// <summary>/metal/temperature value: greatest value allowed.</summary>
        public const float TemperatureValueMax = 2.0f;
        /// <summary>/metal/temperature transition: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> TemperatureTransitionValues =
            Array.AsReadOnly(new[] { "phrase", "bar", "section" });

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/temperature value: 0.05..2.</summary>
        public static void CheckTemperatureValue(float value, string paramName)
        {
            if (!(value >= TemperatureValueMin && value <= TemperatureValueMax))
            {
                throw new ArgumentOutOfRangeException(
                    paramName, value, "/metal/temperature value must be 0.05..2");
            }
        }

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/temperature transition: phrase|bar|section.</summary>
        public static void CheckTemperatureTransition(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (!TemperatureTransitionValues.Contains(value))
            {
                throw new ArgumentException(
                    "/metal/temperature transition must be phrase|bar|section, got '" + value + "'", paramName);
            }
        }

        // --- /metal/transition (client → server): TransitionDefault

        /// <summary>/metal/transition (client → server): fewest arguments.</summary>
        public const int TransitionDefaultMinArgs = 1;
        /// <summary>/metal/transition (client → server): most arguments.</summary>
        public const int TransitionDefaultMaxArgs = 1;
        /// <summary>/metal/transition when: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> TransitionDefaultWhenValues =
            Array.AsReadOnly(new[] { "phrase", "bar", "section" });

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/transition when: phrase|bar|section.</summary>
        public static void CheckTransitionDefaultWhen(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (!TransitionDefaultWhenValues.Contains(value))
            {
                throw new ArgumentException(
                    "/metal/transition when must be phrase|bar|section, got '" + value + "'", paramName);
            }
        }

        // --- /metal/key (client → server): Key

        /// <summary>/metal/key (client → server): fewest arguments.</summary>
        public const int KeyMinArgs = 1;
        /// <summary>/metal/key (client → server): most arguments.</summary>
        public const int KeyMaxArgs = 1;
        /// <summary>/metal/key key: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> KeyValues =
            Array.AsReadOnly(new[] { "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B" });

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/key key: C|C#|Db|D|D#|Eb|E|F|F#|Gb|G|G#|Ab|A|A#|Bb|B.</summary>
        public static void CheckKey(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (!KeyValues.Contains(value))
            {
                throw new ArgumentException(
                    "/metal/key key must be C|C#|Db|D|D#|Eb|E|F|F#|Gb|G|G#|Ab|A|A#|Bb|B, got '" + value + "'", paramName);
            }
        }

        // --- /metal/fill (client → server): Fill

        /// <summary>/metal/fill (client → server): fewest arguments.</summary>
        public const int FillMinArgs = 0;
        /// <summary>/metal/fill (client → server): most arguments.</summary>
        public const int FillMaxArgs = 0;

        // --- /metal/section (client → server): SectionRequest

        /// <summary>/metal/section (client → server): fewest arguments.</summary>
        public const int SectionRequestMinArgs = 0;
        /// <summary>/metal/section (client → server): most arguments.</summary>
        public const int SectionRequestMaxArgs = 1;
        /// <summary>/metal/section label: most characters.</summary>
        public const int SectionRequestLabelMaxLength = 32;
        /// <summary>/metal/section label: the regular expression the whole text matches.</summary>
        public const string SectionRequestLabelPattern = "^[A-Za-z0-9_-]*\\z";
        /// <summary>/metal/section label: the default.</summary>
        public const string SectionRequestLabelDefault = "";

        /// <summary>Throws unless <paramref name="value"/> is a valid /metal/section label: 0..32 chars of [A-Za-z0-9_-].</summary>
        public static void CheckSectionRequestLabel(string value, string paramName)
        {
            if (value == null) throw new ArgumentNullException(paramName);
            if (value.Length > SectionRequestLabelMaxLength || !Regex.IsMatch(value, SectionRequestLabelPattern))
            {
                throw new ArgumentException(
                    "/metal/section label must be 0..32 chars of [A-Za-z0-9_-], got '" + value + "'", paramName);
            }
        }

        // --- /metal/ping (client → server): Ping

        /// <summary>/metal/ping (client → server): fewest arguments.</summary>
        public const int PingMinArgs = 0;

        // --- /metal/state (client → server): StateRequest

        /// <summary>/metal/state (client → server): fewest arguments.</summary>
        public const int StateRequestMinArgs = 0;
        /// <summary>/metal/state (client → server): most arguments.</summary>
        public const int StateRequestMaxArgs = 0;

        // --- /metal/note (server → client): Note

        /// <summary>/metal/note (server → client): fewest arguments.</summary>
        public const int NoteMinArgs = 5;
        /// <summary>/metal/note (server → client): most arguments.</summary>
        public const int NoteMaxArgs = 5;
        /// <summary>/metal/note instrument: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> NoteInstrumentValues =
            Array.AsReadOnly(new[] { "guitar", "bass", "drums" });
        /// <summary>/metal/note pitch: least value allowed.</summary>
        public const int NotePitchMin = 0;
        /// <summary>/metal/note pitch: greatest value allowed.</summary>
        public const int NotePitchMax = 127;
        /// <summary>/metal/note velocity: least value allowed.</summary>
        public const int NoteVelocityMin = 0;
        /// <summary>/metal/note velocity: greatest value allowed.</summary>
        public const int NoteVelocityMax = 127;
        /// <summary>/metal/note duration_s: least value allowed.</summary>
        public const float NoteDurationSMin = 0.0f;
        /// <summary>/metal/note duration_s: greatest value allowed.</summary>
        public const float NoteDurationSMax = 3.4028235e+38f;
        /// <summary>/metal/note beat: least value allowed.</summary>
        public const float NoteBeatMin = 0.0f;
        /// <summary>/metal/note beat: greatest value allowed.</summary>
        public const float NoteBeatMax = 3.4028235e+38f;

        // --- /metal/beat (server → client): Beat

        /// <summary>/metal/beat (server → client): fewest arguments.</summary>
        public const int BeatMinArgs = 2;
        /// <summary>/metal/beat (server → client): most arguments.</summary>
        public const int BeatMaxArgs = 2;
        /// <summary>/metal/beat bar: least value allowed.</summary>
        public const int BeatBarMin = 0;
        /// <summary>/metal/beat bar: greatest value allowed.</summary>
        public const int BeatBarMax = 2147483647;
        /// <summary>/metal/beat beat: least value allowed.</summary>
        public const int BeatMin = 0;
        /// <summary>/metal/beat beat: greatest value allowed.</summary>
        public const int BeatMax = 2147483647;

        // --- /metal/phrase (server → client): PhraseStarted

        /// <summary>/metal/phrase (server → client): fewest arguments.</summary>
        public const int PhraseStartedMinArgs = 3;
        /// <summary>/metal/phrase (server → client): most arguments.</summary>
        public const int PhraseStartedMaxArgs = 3;
        /// <summary>/metal/phrase instrument: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> PhraseStartedInstrumentValues =
            Array.AsReadOnly(new[] { "guitar", "bass", "drums" });
        /// <summary>/metal/phrase id: least value allowed.</summary>
        public const int PhraseStartedIdMin = 0;
        /// <summary>/metal/phrase id: greatest value allowed.</summary>
        public const int PhraseStartedIdMax = 2147483647;
        /// <summary>/metal/phrase tension: least value allowed.</summary>
        public const float PhraseStartedTensionMin = 0.0f;
        /// <summary>/metal/phrase tension: greatest value allowed.</summary>
        public const float PhraseStartedTensionMax = 1.0f;

        // --- /metal/section (server → client): SectionStarted

        /// <summary>/metal/section (server → client): fewest arguments.</summary>
        public const int SectionStartedMinArgs = 4;
        /// <summary>/metal/section (server → client): most arguments.</summary>
        public const int SectionStartedMaxArgs = 4;
        /// <summary>/metal/section index: least value allowed.</summary>
        public const int SectionStartedIndexMin = 0;
        /// <summary>/metal/section index: greatest value allowed.</summary>
        public const int SectionStartedIndexMax = 2147483647;
        /// <summary>/metal/section label: most characters.</summary>
        public const int SectionStartedLabelMaxLength = 32;
        /// <summary>/metal/section label: the regular expression the whole text matches.</summary>
        public const string SectionStartedLabelPattern = "^[A-Za-z0-9_-]*\\z";
        /// <summary>/metal/section key: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> SectionStartedKeyValues =
            Array.AsReadOnly(new[] { "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B" });
        /// <summary>/metal/section tension: least value allowed.</summary>
        public const float SectionStartedTensionMin = 0.0f;
        /// <summary>/metal/section tension: greatest value allowed.</summary>
        public const float SectionStartedTensionMax = 1.0f;

        // --- /metal/pong (server → client): Pong

        /// <summary>/metal/pong (server → client): fewest arguments.</summary>
        public const int PongMinArgs = 1;

        // --- /metal/state (server → client): State

        /// <summary>/metal/state (server → client): fewest arguments.</summary>
        public const int StateMinArgs = 10;
        /// <summary>/metal/state (server → client): most arguments.</summary>
        public const int StateMaxArgs = 10;
        /// <summary>/metal/state tension: least value allowed.</summary>
        public const float StateTensionMin = 0.0f;
        /// <summary>/metal/state tension: greatest value allowed.</summary>
        public const float StateTensionMax = 1.0f;
        /// <summary>/metal/state bpm: least value allowed.</summary>
        public const float StateBpmMin = 40.0f;
        /// <summary>/metal/state bpm: greatest value allowed.</summary>
        public const float StateBpmMax = 320.0f;
        /// <summary>/metal/state temperature: least value allowed.</summary>
        public const float StateTemperatureMin = 0.05f;
        /// <summary>/metal/state temperature: greatest value allowed.</summary>
        public const float StateTemperatureMax = 2.0f;
        /// <summary>/metal/state scene: most characters.</summary>
        public const int StateSceneMaxLength = 32;
        /// <summary>/metal/state scene: the regular expression the whole text matches.</summary>
        public const string StateScenePattern = "^[A-Za-z0-9_-]*\\z";
        /// <summary>/metal/state key: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> StateKeyValues =
            Array.AsReadOnly(new[] { "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B" });
        /// <summary>/metal/state transition: the values allowed.</summary>
        public static readonly ReadOnlyCollection<string> StateTransitionValues =
            Array.AsReadOnly(new[] { "phrase", "bar", "section" });

        // --- /metal/scene/list (server → client): SceneList

        /// <summary>/metal/scene/list (server → client): fewest arguments.</summary>
        public const int SceneListMinArgs = 0;

        // --- /metal/error (server → client): Error

        /// <summary>/metal/error (server → client): fewest arguments.</summary>
        public const int ErrorMinArgs = 2;
        /// <summary>/metal/error (server → client): most arguments.</summary>
        public const int ErrorMaxArgs = 2;
        /// <summary>/metal/error refused_address: the regular expression the whole text matches.</summary>
        public const string ErrorRefusedAddressPattern = "^[^\\x00]*\\z";
        /// <summary>/metal/error reason: the regular expression the whole text matches.</summary>
        public const string ErrorReasonPattern = "^[^\\x00]*\\z";
    }
}
