using System;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading;
using MetalOSC.Core;

namespace MetalOSC.Tests
{
    /// <summary>
    /// Console driver for integration tests against a real peer over real UDP: runs a
    /// <see cref="MetalOscClient"/> against the server given on the command line, sends the requested
    /// controls, and prints every event it receives as one JSON object per line, so a test in any
    /// language can assert on exactly what the C# side decoded.
    ///
    /// Usage: MetalOscProbe.exe --server HOST:PORT [--seconds S] [--until-notes N] [--until-pongs N] [--until-beats N]
    ///        [--tension F] [--tempo F] [--request-state] [--mode bundle|immediate]
    ///        [--local-offset S] [--unseeded]
    ///        MetalOscProbe.exe --dump-builders
    ///        MetalOscProbe.exe --sample-choices FOLDER
    /// --local-offset makes the client's local clock read unix time minus S, so the clock-sync
    /// estimate (server - local) has a known true value; --unseeded starts the estimate at 0 instead
    /// of the system clock, so only measured pongs can get it right. --dump-builders prints the bytes
    /// of every client→server builder (hex) instead, so another implementation can decode them;
    /// --sample-choices prints which default-band sample the client picks for every pitch.
    /// </summary>
    public static class MetalOscProbe
    {
        public static int Main(string[] args)
        {
            if (args.Length == 1 && args[0] == "--dump-builders")
            {
                DumpBuilders();
                return 0;
            }
            if (args.Length == 2 && args[0] == "--sample-choices")
            {
                DumpSampleChoices(args[1]);
                return 0;
            }
            string server = null;
            double seconds = 10, tension = double.NaN, tempo = double.NaN, localOffset = 0;
            int untilNotes = 0, untilPongs = 0, untilBeats = 0;
            bool requestState = false, unseeded = false;
            string mode = MetalMessages.ModeBundle;
            try
            {
                for (int i = 0; i < args.Length; i++)
                {
                    switch (args[i])
                    {
                        case "--server": server = args[++i]; break;
                        case "--seconds": seconds = ParseDouble(args[++i]); break;
                        case "--until-notes": untilNotes = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                        case "--until-pongs": untilPongs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                        case "--until-beats": untilBeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                        case "--tension": tension = ParseDouble(args[++i]); break;
                        case "--tempo": tempo = ParseDouble(args[++i]); break;
                        case "--request-state": requestState = true; break;
                        case "--mode": mode = args[++i]; break;
                        case "--local-offset": localOffset = ParseDouble(args[++i]); break;
                        case "--unseeded": unseeded = true; break;
                        default: throw new ArgumentException("unknown option " + args[i]);
                    }
                }
                if (server == null || server.LastIndexOf(':') <= 0) throw new ArgumentException("--server HOST:PORT is required");
            }
            catch (Exception e) when (e is ArgumentException || e is FormatException || e is IndexOutOfRangeException || e is OverflowException)
            {
                Console.Error.WriteLine("MetalOscProbe: " + e.Message);
                return 2;
            }

            int colon = server.LastIndexOf(':');
            var stopwatch = Stopwatch.StartNew();
            double unixAtStart = UnixNow();
            Func<double> local = () => unixAtStart - localOffset + stopwatch.Elapsed.TotalSeconds;
            var options = new MetalOscClientOptions
            {
                ServerHost = server.Substring(0, colon),
                ServerPort = int.Parse(server.Substring(colon + 1), CultureInfo.InvariantCulture),
                Mode = mode,
                LocalClock = local,
                UnixClock = unseeded ? local : (Func<double>)null,
                PingIntervalSeconds = 0.5,
            };

            int notes = 0, pongs = 0, beats = 0;
            using (var client = new MetalOscClient(options))
            {
                client.NoteScheduled += n =>
                {
                    notes++;
                    Emit(new Json("note").Str("instrument", n.Instrument.ToWireName()).Int("pitch", n.Pitch)
                        .Int("velocity", n.Velocity).Num("duration_s", n.DurationSeconds).Num("beat", n.Beat)
                        .Raw("timetag", n.TimeTag.ToString(CultureInfo.InvariantCulture))
                        .Num("sound_time_unix", n.SoundTimeUnix).Num("local_dsp_time", n.LocalDspTime)
                        .Num("pumped_at", local()).Int("clock_samples", client.Clock.SampleCount));
                };
                client.BeatReceived += b =>
                {
                    beats++;
                    Emit(new Json("beat").Int("bar", b.Bar).Int("beat", b.Beat).Num("local_dsp_time", b.LocalDspTime));
                };
                client.PhraseStarted += p => Emit(new Json("phrase").Str("instrument", p.Instrument.ToWireName())
                    .Int("id", p.Id).Num("tension", p.Tension).Num("local_dsp_time", p.LocalDspTime));
                client.StateReceived += s => Emit(new Json("state").Bool("playing", s.Playing).Num("tension", s.Tension)
                    .Num("bpm", s.Bpm).Num("temperature", s.Temperature).Bool("guitar_muted", s.GuitarMuted)
                    .Bool("bass_muted", s.BassMuted).Bool("drums_muted", s.DrumsMuted).Str("scene", s.Scene));
                client.ErrorReceived += e => Emit(new Json("error").Str("address", e.Address).Str("reason", e.Reason));
                client.PongReceived += p =>
                {
                    pongs++;
                    var list = new StringBuilder("[");
                    for (int i = 0; i < p.Arguments.Length; i++)
                    {
                        if (i > 0) list.Append(',');
                        OscArgument a = p.Arguments[i];
                        list.Append(a.Type == OscArgType.String ? Json.Quote(a.StringValue)
                            : a.IsInteger ? a.IntValue.ToString(CultureInfo.InvariantCulture) : Json.Number(a.AsDouble));
                    }
                    Emit(new Json("pong").Raw("args", list.Append(']').ToString()).Num("server_time", p.ServerTime));
                };
                client.DecodeFailed += problem => Emit(new Json("decode_failure").Str("problem", problem));

                client.Start();
                Emit(new Json("ready").Int("local_port", client.LocalEndPoint.Port));
                if (!double.IsNaN(tension)) client.SetTension((float)tension);
                if (!double.IsNaN(tempo)) client.SetTempo((float)tempo);
                if (requestState) client.RequestState();

                while (stopwatch.Elapsed.TotalSeconds < seconds)
                {
                    client.Pump();
                    if ((untilNotes > 0 || untilPongs > 0 || untilBeats > 0)
                        && notes >= untilNotes && pongs >= untilPongs && beats >= untilBeats) break;
                    Thread.Sleep(2);
                }
                Emit(new Json("done").Int("notes", notes).Int("pongs", pongs)
                    .Raw("packets", client.PacketsReceived.ToString(CultureInfo.InvariantCulture))
                    .Raw("malformed", client.MalformedPackets.ToString(CultureInfo.InvariantCulture))
                    .Raw("unknown", client.UnknownMessages.ToString(CultureInfo.InvariantCulture))
                    .Raw("dropped", client.DroppedEvents.ToString(CultureInfo.InvariantCulture))
                    .Raw("held_until_sync", client.HeldUntilSync.ToString(CultureInfo.InvariantCulture))
                    .Int("clock_samples", client.Clock.SampleCount).Num("clock_offset", client.Clock.Offset)
                    .Num("clock_rtt", client.Clock.RoundTrip));
            }
            return 0;
        }

        private static void DumpBuilders()
        {
            var messages = new[]
            {
                MetalMessages.Subscribe(),
                MetalMessages.Subscribe(9100),
                MetalMessages.Subscribe(null, MetalMessages.ModeImmediate),
                MetalMessages.Subscribe(9101, MetalMessages.ModeImmediate),
                MetalMessages.Unsubscribe(),
                MetalMessages.Tension(0.7f),
                MetalMessages.Tempo(172.5f),
                MetalMessages.Interpolate("boss_1"),
                MetalMessages.Interpolate("calm-2", 16),
                MetalMessages.SceneSave("calm-2"),
                MetalMessages.Play(),
                MetalMessages.Stop(),
                MetalMessages.Mute(Instrument.Bass, true),
                MetalMessages.Mute(Instrument.Drums, false),
                MetalMessages.Temperature(0.5f),
                MetalMessages.Temperature(1.5f, MetalMessages.TransitionSection),
                MetalMessages.Tension(0.9f, MetalMessages.TransitionBar),
                MetalMessages.Transition(MetalMessages.TransitionPhrase),
                MetalMessages.Key("F#"),
                MetalMessages.Fill(),
                MetalMessages.Section(),
                MetalMessages.Section("boss"),
                MetalMessages.Ping(),
                MetalMessages.Ping(OscArgument.Str(MetalOscClient.SyncPingTag), OscArgument.Int(7), OscArgument.Float(0.5f)),
                MetalMessages.State(),
            };
            foreach (var message in messages)
            {
                byte[] bytes = OscWriter.Encode(message);
                Emit(new Json("builder").Str("message", message.ToString())
                    .Str("hex", BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant()));
            }
        }

        /// <summary>
        /// What the client would play for every MIDI pitch with the default band in <paramref name="folder"/>:
        /// the sample files it recognises by name, then per instrument and pitch the sample pitch chosen
        /// (nearest within <see cref="DefaultBand.MaxShiftSemitones"/>; null when none).
        /// </summary>
        private static void DumpSampleChoices(string folder)
        {
            var pitches = new System.Collections.Generic.List<int>[InstrumentNames.Count];
            for (int i = 0; i < pitches.Length; i++) pitches[i] = new System.Collections.Generic.List<int>();
            string[] files = System.IO.Directory.GetFiles(folder);
            Array.Sort(files, StringComparer.Ordinal);
            foreach (string path in files)
            {
                string name = System.IO.Path.GetFileName(path);
                Instrument instrument;
                int pitch;
                if (!DefaultBand.TryParseSampleName(name, out instrument, out pitch)) continue;
                pitches[(int)instrument].Add(pitch);
                Emit(new Json("sample").Str("file", name).Str("instrument", instrument.ToWireName()).Int("pitch", pitch));
            }
            foreach (Instrument instrument in new[] { Instrument.Guitar, Instrument.Bass, Instrument.Drums })
            {
                int[] samples = pitches[(int)instrument].ToArray();
                int maxShift = DefaultBand.MaxShiftSemitones(instrument);
                for (int pitch = MetalRanges.NotePitchMin; pitch <= MetalRanges.NotePitchMax; pitch++)
                {
                    int index = SampleSelection.Nearest(samples, pitch, maxShift);
                    var json = new Json("choice").Str("instrument", instrument.ToWireName()).Int("pitch", pitch);
                    if (index < 0) json.Raw("sample", "null").Raw("ratio", "null");
                    else json.Int("sample", samples[index]).Num("ratio", SampleSelection.PitchRatio(samples[index], pitch));
                    Emit(json);
                }
            }
        }

        private static double ParseDouble(string text)
        {
            return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        private static double UnixNow()
        {
            return (DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
        }

        private static void Emit(Json json)
        {
            Console.Out.WriteLine(json.ToString());
            Console.Out.Flush();
        }

        /// <summary>A one-line JSON object writer (no JSON library ships with Mono's base profile).</summary>
        private sealed class Json
        {
            private readonly StringBuilder _sb = new StringBuilder("{");

            public Json(string eventName)
            {
                _sb.Append("\"event\":").Append(Quote(eventName));
            }

            public Json Raw(string key, string json)
            {
                _sb.Append(',').Append(Quote(key)).Append(':').Append(json);
                return this;
            }

            public Json Str(string key, string value) { return Raw(key, value == null ? "null" : Quote(value)); }

            public Json Int(string key, long value) { return Raw(key, value.ToString(CultureInfo.InvariantCulture)); }

            public Json Bool(string key, bool value) { return Raw(key, value ? "true" : "false"); }

            /// <summary>Doubles print round-trippable ("G17"); a float32 widens exactly, so tests compare bit-exact.</summary>
            public Json Num(string key, double value) { return Raw(key, Number(value)); }

            public override string ToString()
            {
                return _sb.ToString() + "}";
            }

            public static string Number(double value)
            {
                if (double.IsNaN(value) || double.IsInfinity(value)) return "null";
                return value.ToString("G17", CultureInfo.InvariantCulture);
            }

            public static string Quote(string value)
            {
                var sb = new StringBuilder("\"");
                foreach (char c in value)
                {
                    switch (c)
                    {
                        case '"': sb.Append("\\\""); break;
                        case '\\': sb.Append("\\\\"); break;
                        case '\n': sb.Append("\\n"); break;
                        case '\r': sb.Append("\\r"); break;
                        case '\t': sb.Append("\\t"); break;
                        default:
                            if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                            else sb.Append(c);
                            break;
                    }
                }
                return sb.Append('"').ToString();
            }
        }
    }
}
