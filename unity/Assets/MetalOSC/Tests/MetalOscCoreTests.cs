using System;
using System.Collections.Generic;
using System.Text;
using MetalOSC.Core;

namespace MetalOSC.Tests
{
    /// <summary>
    /// Tests for MetalOSC.Core, run with Mono (see README): codec round trips and exact bytes,
    /// malformed input (every failure must be an OscFormatException, never IndexOutOfRange), event
    /// parsing, message builders, clock-sync math and timetag → DSP mapping. Deterministic: no
    /// sockets, no sleeps, fake clocks and seeded randomness only.
    /// </summary>
    public static class MetalOscCoreTests
    {
        public static int Main(string[] args)
        {
            var runner = new TestRunner();
            Register(runner);
            return runner.Run(args.Length > 0 ? args[0] : null) == 0 ? 0 : 1;
        }

        private static void Register(TestRunner t)
        {
            // --- codec -------------------------------------------------------------------------
            t.Add("codec: message encodes to the exact big-endian bytes", () =>
            {
                byte[] bytes = OscWriter.Encode(new OscMessage("/metal/tension").Add(0.5f));
                var expected = new List<byte>(Encoding.ASCII.GetBytes("/metal/tension"));
                expected.AddRange(new byte[] { 0, 0 });
                expected.AddRange(new byte[] { (byte)',', (byte)'f', 0, 0 });
                expected.AddRange(new byte[] { 0x3F, 0x00, 0x00, 0x00 });
                Check.SameBytes(expected.ToArray(), bytes, "tension 0.5");
            });

            t.Add("codec: int32 is written most significant byte first", () =>
            {
                byte[] bytes = OscWriter.Encode(new OscMessage("/a").Add(0x01020304));
                Check.SameBytes(new byte[] { (byte)'/', (byte)'a', 0, 0, (byte)',', (byte)'i', 0, 0, 1, 2, 3, 4 },
                    bytes, "int");
            });

            t.Add("codec: every argument type round-trips", () =>
            {
                var message = new OscMessage("/x/y")
                    .Add(-7).Add(0.1f).Add("héllo").Add(true).Add(false)
                    .Add(OscArgument.Long(-1234567890123L)).Add(1764054000.123456789).Add("");
                var parsed = (OscMessage)new OscReader().Parse(OscWriter.Encode(message));
                Check.Equal("/x/y", parsed.Address, "address");
                Check.Equal(message.Count, parsed.Count, "argument count");
                for (int i = 0; i < message.Count; i++)
                {
                    Check.Equal(message[i], parsed[i], "argument " + i);
                }
                Check.Equal(0.1f, (float)parsed[1].FloatValue, "float32 keeps its exact bits");
            });

            t.Add("codec: string padding at every length", () =>
            {
                var reader = new OscReader();
                for (int n = 0; n < 9; n++)
                {
                    string s = new string('a', n);
                    byte[] bytes = OscWriter.Encode(new OscMessage("/s").Add(s).Add(n));
                    Check.Equal(0, bytes.Length % 4, "length multiple of 4 for " + n);
                    var parsed = (OscMessage)reader.Parse(bytes);
                    Check.Equal(s, parsed[0].StringValue, "string of " + n);
                    Check.Equal((long)n, parsed[1].IntValue, "int after string of " + n);
                }
            });

            t.Add("codec: message without type tag string has no arguments", () =>
            {
                var parsed = (OscMessage)new OscReader().Parse(new byte[] { (byte)'/', (byte)'p', 0, 0 });
                Check.Equal("/p", parsed.Address, "address");
                Check.Equal(0, parsed.Count, "arguments");
            });

            t.Add("codec: bundle with timetag round-trips", () =>
            {
                ulong tag = OscTimeTag.FromUnixSeconds(1764054000.25);
                var bundle = new OscBundle(tag)
                    .Add(new OscMessage("/metal/note").Add("guitar").Add(40).Add(100).Add(0.25f).Add(1.5f))
                    .Add(new OscMessage("/metal/beat").Add(3).Add(2));
                byte[] bytes = OscWriter.Encode(bundle);
                Check.SameBytes(Encoding.ASCII.GetBytes("#bundle\0"), Slice(bytes, 0, 8), "bundle header");
                var parsed = (OscBundle)new OscReader().Parse(bytes);
                Check.Equal(tag, parsed.TimeTag, "timetag");
                Check.Equal(2, parsed.Elements.Count, "elements");
                Check.Equal("/metal/beat", ((OscMessage)parsed.Elements[1]).Address, "second address");
            });

            t.Add("codec: nested bundles give each message its innermost timetag", () =>
            {
                ulong outer = OscTimeTag.FromUnixSeconds(100.0);
                ulong inner = OscTimeTag.FromUnixSeconds(101.0);
                var packet = new OscBundle(outer)
                    .Add(new OscMessage("/a"))
                    .Add(new OscBundle(inner).Add(new OscMessage("/b")))
                    .Add(new OscBundle(OscTimeTag.Immediately).Add(new OscMessage("/c")))
                    .Add(new OscMessage("/d"));
                var seen = new Collector();
                new OscReader().Read(OscWriter.Encode(packet), 0, OscWriter.Encode(packet).Length, seen);
                Check.Equal("/a /b /c /d", string.Join(" ", seen.Addresses.ToArray()), "order");
                Check.Equal(outer, seen.Tags[0], "/a");
                Check.Equal(inner, seen.Tags[1], "/b");
                Check.Equal(outer, seen.Tags[2], "/c inherits the enclosing time");
                Check.Equal(outer, seen.Tags[3], "/d");
            });

            t.Add("codec: a bare message is delivered as immediate", () =>
            {
                var seen = new Collector();
                byte[] bytes = OscWriter.Encode(new OscMessage("/z").Add(1));
                new OscReader().Read(bytes, 0, bytes.Length, seen);
                Check.Equal(OscTimeTag.Immediately, seen.Tags[0], "tag");
            });

            t.Add("codec: reading honours offset and count inside a larger buffer", () =>
            {
                byte[] message = OscWriter.Encode(new OscMessage("/q").Add(5));
                byte[] big = new byte[message.Length + 12];
                Array.Copy(message, 0, big, 8, message.Length);
                var parsed = (OscMessage)new OscReader().Parse(big, 8, message.Length);
                Check.Equal((long)5, parsed[0].IntValue, "value");
            });

            t.Add("codec: known strings are returned as the shared instance", () =>
            {
                var reader = new OscReader(MetalAddresses.KnownStrings);
                byte[] bytes = OscWriter.Encode(new OscMessage("/metal/note").Add("drums"));
                var parsed = (OscMessage)reader.Parse(bytes);
                Check.True(ReferenceEquals(MetalAddresses.Note, parsed.Address), "address interned");
                Check.True(ReferenceEquals("drums", parsed[0].StringValue), "instrument interned");
            });

            t.Add("codec: writer reuses and grows its buffer", () =>
            {
                var writer = new OscWriter(64);
                int small = writer.Write(new OscMessage("/a").Add(1));
                Check.Equal(12, small, "small length");
                int big = writer.Write(new OscMessage("/b").Add(new string('x', 1000)));
                Check.Equal(4 + 4 + 1004, big, "big length");
                Check.True(writer.Buffer.Length >= big, "buffer grew");
                var parsed = (OscMessage)new OscReader().Parse(writer.Buffer, 0, big);
                Check.Equal(1000, parsed[0].StringValue.Length, "payload");
            });

            t.Add("codec: writer rejects bad addresses and NUL in strings", () =>
            {
                Check.Throws<ArgumentException>(() => OscWriter.Encode(new OscMessage("nope")), "no slash");
                Check.Throws<ArgumentException>(() => OscWriter.Encode(new OscMessage("/a").Add("x\0y")), "NUL");
            });

            t.Add("timetag: known NTP values", () =>
            {
                Check.Equal(2208988800UL << 32, OscTimeTag.FromUnixSeconds(0.0), "unix epoch");
                Check.Equal((2208988800UL << 32) | 0x80000000UL, OscTimeTag.FromUnixSeconds(0.5), "half second");
                Check.Near(0.25, OscTimeTag.ToUnixSeconds((2208988800UL << 32) | 0x40000000UL), 0, "quarter");
                Check.Throws<ArgumentException>(() => OscTimeTag.ToUnixSeconds(OscTimeTag.Immediately), "immediately");
                Check.Throws<ArgumentOutOfRangeException>(() => OscTimeTag.FromUnixSeconds(double.NaN), "NaN");
            });

            t.Add("timetag: unix round trip keeps sub-microsecond precision", () =>
            {
                var random = new Random(7);
                for (int i = 0; i < 1000; i++)
                {
                    double unix = 1.7e9 + random.NextDouble() * 1e8;
                    Check.Near(unix, OscTimeTag.ToUnixSeconds(OscTimeTag.FromUnixSeconds(unix)), 1e-6, "round trip");
                }
            });

            t.Add("codec: steady-state decoding of note bundles allocates nothing", () =>
            {
                // Unity's GC pauses are audible; the receive path must not feed it per packet.
                var bundle = new OscBundle(OscTimeTag.FromUnixSeconds(1764054000.5))
                    .Add(new OscMessage("/metal/note").Add("guitar").Add(40).Add(100).Add(0.25f).Add(1.5f))
                    .Add(new OscMessage("/metal/note").Add("drums").Add(36).Add(127).Add(0.125f).Add(1.5f))
                    .Add(new OscMessage("/metal/beat").Add(3).Add(2));
                byte[] bytes = OscWriter.Encode(bundle);
                var reader = new OscReader(MetalAddresses.KnownStrings);
                var handler = new ParsingCollector();
                for (int i = 0; i < 100; i++) reader.Read(bytes, 0, bytes.Length, handler);  // warm-up
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10000; i++) reader.Read(bytes, 0, bytes.Length, handler);
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Check.True(allocated < 1000, "allocated " + allocated + " bytes for 10000 packets");
                Check.Equal(30000, handler.Parsed - 300, "every message parsed");
            });

            // --- malformed input -----------------------------------------------------------------
            var valid = OscWriter.Encode(new OscMessage("/m").Add(1).Add("ab"));
            AddMalformed(t, "empty packet", new byte[0], "packet size 0");
            AddMalformed(t, "size not a multiple of 4", new byte[] { (byte)'/', (byte)'a', 0 }, "multiple of 4");
            AddMalformed(t, "neither / nor #", new byte[] { (byte)'x', 0, 0, 0 }, "neither");
            AddMalformed(t, "address without NUL", Encoding.ASCII.GetBytes("/abc"), "not NUL-terminated");
            AddMalformed(t, "type tags without comma", Concat(Pad("/a"), Pad("if")), "','");
            AddMalformed(t, "truncated int argument", Concat(Pad("/a"), Pad(",i")), "int32 argument needs 4 bytes");
            AddMalformed(t, "truncated float argument", Concat(Pad("/a"), Pad(",ff"), new byte[4]), "float32 argument needs 4 bytes");
            AddMalformed(t, "truncated double argument", Concat(Pad("/a"), Pad(",d"), new byte[4]), "float64 argument needs 8 bytes");
            AddMalformed(t, "string argument missing", Concat(Pad("/a"), Pad(",s")), "string argument");
            AddMalformed(t, "unsupported type tag", Concat(Pad("/a"), Pad(",b"), new byte[4]), "unsupported type tag 'b'");
            AddMalformed(t, "trailing bytes", Concat(valid, new byte[4]), "trailing bytes");
            AddMalformed(t, "invalid UTF-8", Concat(Pad("/a"), Pad(",s"), new byte[] { 0xC3, 0x28, 0, 0 }), "UTF-8");
            AddMalformed(t, "bad bundle tag", Concat(Encoding.ASCII.GetBytes("#bundlX\0"), new byte[8]), "'#bundle'");
            AddMalformed(t, "short bundle header", Encoding.ASCII.GetBytes("#bundle\0"), "16-byte header");
            AddMalformed(t, "element size past the end", Concat(BundleHeader(), Int(64), valid), "runs past the end");
            AddMalformed(t, "negative element size", Concat(BundleHeader(), Int(-4), valid), "positive multiple of 4");
            AddMalformed(t, "zero element size", Concat(BundleHeader(), Int(0)), "positive multiple of 4");
            AddMalformed(t, "element size not a multiple of 4", Concat(BundleHeader(), Int(6), new byte[8]), "positive multiple of 4");
            AddMalformed(t, "element size missing", Concat(BundleHeader(), Int(8), new byte[4]), "runs past the end");
            t.Add("malformed: bundles nested too deep", () =>
            {
                OscPacket packet = new OscMessage("/deep");
                for (int i = 0; i < OscReader.MaxBundleDepth + 1; i++) packet = new OscBundle(OscTimeTag.Immediately).Add(packet);
                byte[] bytes = EncodeUnchecked(packet);
                var e = Check.Throws<OscFormatException>(() => new OscReader().Parse(bytes), "deep");
                Check.True(e.Reason.Contains("nested deeper"), e.Message);
                Check.Throws<OscFormatException>(() => new OscReader().Read(bytes, 0, bytes.Length, new Collector()), "deep streaming");
            });

            t.Add("malformed: every truncation and byte flip fails with a named error only", () =>
            {
                var packet = new OscBundle(OscTimeTag.FromUnixSeconds(1764054000.5))
                    .Add(new OscMessage("/metal/note").Add("bass").Add(40).Add(90).Add(0.5f).Add(2f))
                    .Add(new OscBundle(OscTimeTag.FromUnixSeconds(1764054001.0))
                        .Add(new OscMessage("/metal/state").Add(1).Add(0.5f).Add(120f).Add(1f).Add(0).Add(0).Add(1).Add("boss").Add("E").Add("phrase")));
                byte[] bytes = OscWriter.Encode(packet);
                var reader = new OscReader(MetalAddresses.KnownStrings);
                var handler = new ParsingCollector();
                for (int length = 0; length < bytes.Length; length++)
                {
                    // An exact-length copy, so reading past the end would hit the array bound.
                    byte[] truncated = Slice(bytes, 0, length);
                    ExpectOnlyNamedErrors(() => reader.Read(truncated, 0, length, handler), "truncated to " + length);
                    ExpectOnlyNamedErrors(() => reader.Parse(truncated), "tree truncated to " + length);
                }
                var random = new Random(12345);
                for (int trial = 0; trial < 5000; trial++)
                {
                    var copy = (byte[])bytes.Clone();
                    int flips = 1 + random.Next(3);
                    for (int f = 0; f < flips; f++) copy[random.Next(copy.Length)] = (byte)random.Next(256);
                    ExpectOnlyNamedErrors(() => reader.Read(copy, 0, copy.Length, handler), "trial " + trial);
                    ExpectOnlyNamedErrors(() => reader.Parse(copy), "tree trial " + trial);
                }
            });

            // --- event parsing -------------------------------------------------------------------
            t.Add("events: note parses with its timetag", () =>
            {
                ulong tag = OscTimeTag.FromUnixSeconds(1000.5);
                var ev = Parse(new OscMessage("/metal/note").Add("drums").Add(36).Add(127).Add(0.125f).Add(3.25f), tag);
                Check.Equal(MetalEventKind.Note, ev.Kind, "kind");
                Check.Equal(Instrument.Drums, ev.Note.Instrument, "instrument");
                Check.Equal(36, ev.Note.Pitch, "pitch");
                Check.Equal(127, ev.Note.Velocity, "velocity");
                Check.Equal(0.125f, ev.Note.DurationSeconds, "duration");
                Check.Equal(3.25f, ev.Note.Beat, "beat");
                Check.Equal(tag, ev.TimeTag, "timetag");
            });

            t.Add("events: an int is accepted where a float is expected", () =>
            {
                var ev = Parse(new OscMessage("/metal/note").Add("guitar").Add(52).Add(80).Add(1).Add(4), OscTimeTag.Immediately);
                Check.Equal(1f, ev.Note.DurationSeconds, "duration from int");
                Check.Equal(4f, ev.Note.Beat, "beat from int");
            });

            t.Add("events: beat, phrase, error", () =>
            {
                var beat = Parse(new OscMessage("/metal/beat").Add(12).Add(3), 1);
                Check.Equal(12, beat.Beat.Bar, "bar");
                Check.Equal(3, beat.Beat.Beat, "beat");
                var phrase = Parse(new OscMessage("/metal/phrase").Add("bass").Add(77).Add(0.75f), 1);
                Check.Equal(Instrument.Bass, phrase.Phrase.Instrument, "phrase instrument");
                Check.Equal(77, phrase.Phrase.Id, "phrase id");
                Check.Equal(0.75f, phrase.Phrase.Tension, "phrase tension");
                var error = Parse(new OscMessage("/metal/error").Add("/metal/tempo").Add("bpm 500 outside 40..320"), 1);
                Check.Equal("/metal/tempo", error.Error.Address, "error address");
                Check.Equal("bpm 500 outside 40..320", error.Error.Reason, "error reason");
            });

            t.Add("events: state with int and T/F booleans", () =>
            {
                var ev = Parse(new OscMessage("/metal/state").Add(1).Add(0.5f).Add(140f).Add(0.9f)
                    .Add(0).Add(true).Add(1).Add("boss").Add("D").Add("bar"), 1);
                Check.Equal(MetalEventKind.State, ev.Kind, "kind");
                Check.True(ev.State.Playing, "playing");
                Check.Equal(140f, ev.State.Bpm, "bpm");
                Check.Equal(0.9f, ev.State.Temperature, "temperature");
                Check.True(!ev.State.IsMuted(Instrument.Guitar), "guitar");
                Check.True(ev.State.IsMuted(Instrument.Bass), "bass");
                Check.True(ev.State.IsMuted(Instrument.Drums), "drums");
                Check.Equal("boss", ev.State.Scene, "scene");
                Check.Equal("D", ev.State.Key, "key");
                Check.Equal("bar", ev.State.Transition, "transition");
            });

            t.Add("events: a section start with its index, label, key and tension", () =>
            {
                var ev = Parse(new OscMessage("/metal/section").Add(3).Add("boss").Add("D").Add(0.9f), 1);
                Check.Equal(MetalEventKind.Section, ev.Kind, "kind");
                Check.Equal(3, ev.Section.Index, "index");
                Check.Equal("boss", ev.Section.Label, "label");
                Check.Equal("D", ev.Section.Key, "key");
                Check.Equal(0.9f, ev.Section.Tension, "tension");
            });

            t.Add("messages: key, fill, section and transitions as the server reads them", () =>
            {
                Check.Equal("/metal/key", MetalMessages.Key("F#").Address, "key address");
                Check.Throws<ArgumentException>(() => MetalMessages.Key("H"), "unknown key");
                Check.Equal(0, MetalMessages.Fill().Count, "fill has no arguments");
                Check.Equal(0, MetalMessages.Section().Count, "unlabelled section");
                Check.Equal(1, MetalMessages.Section("boss").Count, "labelled section");
                Check.Throws<ArgumentException>(() => MetalMessages.Section("a b"), "bad label");
                Check.Equal(2, MetalMessages.Tension(0.9f, "bar").Count, "tension with a transition");
                Check.Throws<ArgumentException>(() => MetalMessages.Tension(0.9f, "now"), "bad transition");
            });

            t.Add("events: pong splits echoed args from the server time", () =>
            {
                var ev = Parse(new OscMessage("/metal/pong").Add("metalosc-sync").Add(9).Add(1764054000.125), 1);
                Check.Equal(2, ev.Pong.Arguments.Length, "echoed");
                Check.Equal((long)9, ev.Pong.Arguments[1].IntValue, "seq");
                Check.Equal(1764054000.125, ev.Pong.ServerTime, "server time (double)");
                var bare = Parse(new OscMessage("/metal/pong").Add(12.5f), 1);
                Check.Equal(0, bare.Pong.Arguments.Length, "no echo");
                Check.Equal(12.5, bare.Pong.ServerTime, "server time (float)");
            });

            t.Add("events: unknown addresses are skipped, not errors", () =>
            {
                MetalEvent ev;
                Check.True(!MetalEventParser.TryParse(new OscMessage("/metal/future").Add(1), 1, out ev), "skipped");
            });

            AddBadEvent(t, "wrong argument count", new OscMessage("/metal/beat").Add(1), "expected 2 arguments, got 1");
            AddBadEvent(t, "float where int expected", new OscMessage("/metal/beat").Add(1f).Add(2), "must be an int");
            AddBadEvent(t, "unknown instrument", new OscMessage("/metal/note").Add("kazoo").Add(1).Add(1).Add(1f).Add(1f), "unknown instrument 'kazoo'");
            AddBadEvent(t, "pitch out of range", new OscMessage("/metal/note").Add("bass").Add(128).Add(1).Add(1f).Add(1f), "pitch 128");
            AddBadEvent(t, "negative duration", new OscMessage("/metal/note").Add("bass").Add(40).Add(1).Add(-0.5f).Add(1f), "must not be negative");
            AddBadEvent(t, "string where number expected", new OscMessage("/metal/phrase").Add("bass").Add(1).Add("x"), "must be a number");
            AddBadEvent(t, "bool out of 0/1", new OscMessage("/metal/state").Add(2).Add(0f).Add(120f).Add(1f).Add(0).Add(0).Add(0).Add("").Add("E").Add("phrase"), "0/1 or T/F");
            AddBadEvent(t, "bare state request from server", new OscMessage("/metal/state"), "expected 10 arguments");
            AddBadEvent(t, "empty pong", new OscMessage("/metal/pong"), "server time");
            AddBadEvent(t, "non-finite float", new OscMessage("/metal/phrase").Add("bass").Add(1).Add(float.NaN), "not finite");

            // --- builders ------------------------------------------------------------------------
            t.Add("builders: encode the agreed addresses and argument types", () =>
            {
                CheckMessage(MetalMessages.Subscribe(), "/metal/subscribe");
                CheckMessage(MetalMessages.Subscribe(9100, "immediate"), "/metal/subscribe 9100 \"immediate\"");
                CheckMessage(MetalMessages.Subscribe(null, "bundle"), "/metal/subscribe");
                CheckMessage(MetalMessages.Subscribe(null, "immediate"), "/metal/subscribe 0 \"immediate\"");
                CheckMessage(MetalMessages.Subscribe(9100, "bundle"), "/metal/subscribe 9100");
                CheckMessage(MetalMessages.Unsubscribe(), "/metal/unsubscribe");
                CheckMessage(MetalMessages.Tension(0.75f), "/metal/tension 0.75");
                CheckMessage(MetalMessages.Tempo(180f), "/metal/tempo 180");
                CheckMessage(MetalMessages.Interpolate("boss_1"), "/metal/interpolate \"boss_1\" 8");
                CheckMessage(MetalMessages.Interpolate("calm", 16), "/metal/interpolate \"calm\" 16");
                CheckMessage(MetalMessages.SceneSave("calm-2"), "/metal/scene/save \"calm-2\"");
                CheckMessage(MetalMessages.Play(), "/metal/play");
                CheckMessage(MetalMessages.Stop(), "/metal/stop");
                CheckMessage(MetalMessages.Mute(Instrument.Bass, true), "/metal/mute \"bass\" 1");
                CheckMessage(MetalMessages.Mute(Instrument.Drums, false), "/metal/mute \"drums\" 0");
                CheckMessage(MetalMessages.Temperature(0.5f), "/metal/temperature 0.5");
                CheckMessage(MetalMessages.Ping(OscArgument.Int(3)), "/metal/ping 3");
                CheckMessage(MetalMessages.StateRequest(), "/metal/state");
                var tension = (OscMessage)new OscReader().Parse(OscWriter.Encode(MetalMessages.Tension(0.25f)));
                Check.Equal(OscArgType.Float32, tension[0].Type, "tension is 'f'");
                var mute = (OscMessage)new OscReader().Parse(OscWriter.Encode(MetalMessages.Mute(Instrument.Guitar, true)));
                Check.Equal(OscArgType.Int32, mute[1].Type, "mute flag is 'i'");
            });

            t.Add("builders: reject values the server would reject", () =>
            {
                Check.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Tension(1.01f), "tension > 1");
                Check.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Tension(float.NaN), "tension NaN");
                Check.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Tempo(39f), "tempo");
                Check.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Temperature(0.01f), "temperature");
                Check.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Interpolate("a", 7), "odd bars");
                Check.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Interpolate("a", 66), "too many bars");
                Check.Throws<ArgumentException>(() => MetalMessages.SceneSave("has space"), "bad char");
                Check.Throws<ArgumentException>(() => MetalMessages.SceneSave(new string('a', 33)), "too long");
                Check.Throws<ArgumentException>(() => MetalMessages.SceneSave(""), "empty");
                Check.Throws<ArgumentException>(() => MetalMessages.Subscribe(null, "stream"), "mode");
                Check.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Subscribe(70000), "port");
            });

            // --- clock sync ----------------------------------------------------------------------
            t.Add("clock: one symmetric round trip gives the midpoint offset", () =>
            {
                var sync = new ClockSync(() => 0);
                Check.True(sync.AddSample(10.0, 1000.05, 10.1), "accepted");
                Check.Near(990.0, sync.Offset, 1e-9, "offset");
                Check.Near(0.1, sync.RoundTrip, 1e-9, "rtt");
                Check.Near(1000.05 - 990.0, sync.ServerToLocal(1000.05), 1e-9, "server→local");
                Check.Near(1000.05, sync.LocalToServer(10.05), 1e-9, "local→server");
            });

            t.Add("clock: the lowest round trip wins over later, slower samples", () =>
            {
                var sync = new ClockSync(() => 0, 8);
                sync.AddSample(0.0, 500.01, 0.02);      // offset 500.0, rtt 0.02
                sync.AddSample(1.0, 501.3, 1.4);        // queued reply: offset 500.1, rtt 0.4
                sync.AddSample(2.0, 502.01, 2.03);      // offset 499.995, rtt 0.03
                Check.Near(500.0, sync.Offset, 1e-9, "best sample");
                Check.Near(0.02, sync.RoundTrip, 1e-9, "best rtt");
                Check.Equal(3, sync.SampleCount, "samples");
            });

            t.Add("clock: old samples leave the window so drift is followed", () =>
            {
                var sync = new ClockSync(() => 0, 4);
                sync.AddSample(0.0, 100.005, 0.01);     // excellent but old: offset 100.0
                for (int i = 1; i <= 4; i++) sync.AddSample(i, i + 100.5 + 0.025, i + 0.05);  // offset 100.5
                Check.Near(100.5, sync.Offset, 1e-9, "old best evicted");
                Check.Equal(4, sync.SampleCount, "window full");
            });

            t.Add("clock: impossible or useless samples are rejected", () =>
            {
                var sync = new ClockSync(() => 0, 4, 0.5);
                Check.True(!sync.AddSample(1.0, 5.0, 0.9), "negative rtt");
                Check.True(!sync.AddSample(1.0, 5.0, 1.6), "too slow");
                Check.True(!sync.AddSample(1.0, double.NaN, 1.1), "NaN server time");
                Check.True(!sync.HasEstimate, "still no estimate");
            });

            t.Add("clock: seed is used until the first pong", () =>
            {
                var sync = new ClockSync(() => 0);
                sync.Seed(42.0);
                Check.Near(42.0, sync.Offset, 0, "seed");
                Check.True(double.IsPositiveInfinity(sync.RoundTrip), "no rtt yet");
                sync.AddSample(1.0, 51.05, 1.1);
                Check.Near(50.0, sync.Offset, 1e-9, "measured replaces seed");
            });

            t.Add("clock: pings are matched to pongs by sequence number", () =>
            {
                double now = 5.0;
                var sync = new ClockSync(() => now);
                int first = sync.BeginPing();
                now = 5.5;
                int second = sync.BeginPing();
                Check.True(first != second, "distinct sequence numbers");
                Check.True(!sync.CompletePing(second + 100, 0, 6), "unknown seq");
                Check.True(sync.CompletePing(second, 105.55, 5.6), "second");
                Check.Near(100.0, sync.Offset, 1e-9, "offset from second");
                Check.True(!sync.CompletePing(second, 105.55, 5.6), "duplicate pong");
                Check.True(sync.CompletePing(first, 105.3, 5.6), "late first pong");
                Check.Near(100.0, sync.Offset, 1e-9, "slow first pong loses");
            });

            t.Add("clock: estimate converges under asymmetric random delays", () =>
            {
                const double trueOffset = 1764054000.0 - 3.0;   // server unix - local
                var random = new Random(99);
                var sync = new ClockSync(() => 0, 16);
                double local = 3.0;
                for (int i = 0; i < 16; i++)
                {
                    double up = 0.0002 + random.NextDouble() * 0.02 * random.NextDouble();
                    double down = 0.0002 + random.NextDouble() * 0.02 * random.NextDouble();
                    double server = local + up + trueOffset;
                    sync.AddSample(local, server, local + up + down);
                    local += 0.25;
                }
                Check.True(Math.Abs(sync.Offset - trueOffset) <= sync.Uncertainty + 1e-9, "within rtt/2");
                Check.Near(trueOffset, sync.Offset, 0.002, "close to the true offset");
            });

            t.Add("dsp: max filter recovers a clock that only advances per audio buffer", () =>
            {
                var mapper = new DspClockMapper(120);
                const double buffer = 1024.0 / 48000.0;
                const double dspStart = 100.0;
                for (int frame = 0; frame < 240; frame++)
                {
                    double local = 7.0 + frame / 60.0 + (frame % 3) * 0.0013;
                    double dsp = dspStart + Math.Floor((local - 7.0) / buffer) * buffer;
                    mapper.Observe(local, dsp);
                }
                Check.Near(dspStart - 7.0, mapper.Offset, 0.002, "offset within 2 ms");
                Check.Near(dspStart + 5.0, mapper.LocalToDsp(12.0), 0.002, "mapped time");
            });

            t.Add("dsp: empty mapper is the identity; reset forgets", () =>
            {
                var mapper = new DspClockMapper(4);
                Check.Equal(3.0, mapper.LocalToDsp(3.0), "identity");
                mapper.Observe(1.0, 11.0);
                Check.Equal(13.0, mapper.LocalToDsp(3.0), "shifted");
                mapper.Reset();
                Check.True(!mapper.HasObservation, "reset");
                Check.Throws<ArgumentException>(() => mapper.Observe(double.NaN, 1.0), "NaN");
            });

            t.Add("schedule: bundle timetag maps through clock sync and the DSP clock", () =>
            {
                var sync = new ClockSync(() => 0);
                sync.AddSample(10.0, 1764054010.05, 10.1);            // server = local + 1764054000
                var dsp = new DspClockMapper();
                dsp.Observe(10.0, 2.0);                                // dsp = local - 8
                var note = new NoteEvent { Instrument = Instrument.Guitar, Pitch = 64, Velocity = 100, DurationSeconds = 0.25f, Beat = 1.5f };
                ulong tag = OscTimeTag.FromUnixSeconds(1764054012.5);
                var scheduled = NoteScheduling.Schedule(note, tag, sync, dsp, 2.3);
                Check.Near(1764054012.5, scheduled.SoundTimeUnix, 1e-6, "sound time");
                Check.Near(12.5 - 8.0, scheduled.LocalDspTime, 1e-6, "dsp time");
                Check.Equal(tag, scheduled.TimeTag, "raw timetag kept");
                Check.Equal(64, scheduled.Pitch, "pitch");
                Check.Equal(1.5f, scheduled.Beat, "beat");
                Check.True(!scheduled.IsImmediate, "scheduled");
            });

            t.Add("schedule: beat times map like note times", () =>
            {
                var sync = new ClockSync(() => 0);
                sync.Seed(100.0);
                var dsp = new DspClockMapper();
                dsp.Observe(0.0, 5.0);
                Check.Near(105.0 - 100.0 + 5.0, NoteScheduling.ToDspTime(OscTimeTag.FromUnixSeconds(105.0), sync, dsp, 7.0), 1e-6, "timed");
                Check.Equal(7.0, NoteScheduling.ToDspTime(OscTimeTag.Immediately, sync, dsp, 7.0), "immediate");
            });

            t.Add("schedule: immediate notes play at the current DSP time", () =>
            {
                var scheduled = NoteScheduling.Schedule(new NoteEvent { Pitch = 36 }, OscTimeTag.Immediately,
                    new ClockSync(() => 0), new DspClockMapper(), 55.5);
                Check.True(scheduled.IsImmediate, "immediate");
                Check.Equal(55.5, scheduled.LocalDspTime, "now");
            });

            t.Add("samples: nearest within the allowed shift, ties to the lower sample", () =>
            {
                int[] pitches = { 40, 45, 50, 57 };
                Check.Equal(0, SampleSelection.Nearest(pitches, 40, 12), "exact");
                Check.Equal(1, SampleSelection.Nearest(pitches, 46, 12), "46 -> 45");
                Check.Equal(2, SampleSelection.Nearest(pitches, 52, 12), "52 -> 50");
                Check.Equal(1, SampleSelection.Nearest(new[] { 50, 42 }, 46, 12), "tie -> lower (42)");
                Check.Equal(-1, SampleSelection.Nearest(pitches, 80, 12), "too far");
                Check.Equal(-1, SampleSelection.Nearest(new[] { 36, 38 }, 37, 0), "drums: exact only");
                Check.Equal(1, SampleSelection.Nearest(new[] { 36, 38 }, 38, 0), "drums: exact hit");
                Check.Equal(-1, SampleSelection.Nearest(new int[0], 40, 12), "no samples");
            });

            t.Add("samples: pitch ratio and velocity gain", () =>
            {
                Check.Near(2.0, SampleSelection.PitchRatio(40, 52), 1e-6, "octave up");
                Check.Near(0.5, SampleSelection.PitchRatio(52, 40), 1e-6, "octave down");
                Check.Near(Math.Pow(2, 7 / 12.0), SampleSelection.PitchRatio(45, 52), 1e-6, "fifth");
                Check.Near(0.8, SampleSelection.Gain(127, 0.8f), 1e-6, "full velocity");
                Check.Near(0.25, SampleSelection.Gain(64, 1f), 0.01, "half velocity is a quarter gain");
                Check.Near(0.0, SampleSelection.Gain(-5, 1f), 0, "clamped");
            });

            t.Add("voices: free voices first, then steal the one that frees up soonest", () =>
            {
                var voices = new VoiceAllocator(2);
                int a = voices.Allocate(0.0, 1.0);
                int b = voices.Allocate(0.0, 2.0);
                Check.True(a != b, "two free voices");
                Check.Equal(0, voices.Steals, "no steal yet");
                Check.Equal(a, voices.Allocate(1.0, 1.5), "a is free again at 1.0");
                Check.Equal(0, voices.Steals, "reuse is not a steal");
                Check.Equal(a, voices.Allocate(1.2, 3.0), "a ends first (1.5) so it is stolen");
                Check.Equal(1, voices.Steals, "counted");
                Check.Throws<ArgumentException>(() => voices.Allocate(2, 1), "busy-until before now");
            });

            t.Add("tension smoother: first value sent at once, then smoothed and rate-limited", () =>
            {
                var smoother = new TensionSmoother(0.5, 0.1, 0.01f);
                float sent;
                Check.True(smoother.Update(0.2f, 0.0, out sent), "first");
                Check.Equal(0.2f, sent, "first value unsmoothed");
                Check.True(!smoother.Update(1f, 0.05, out sent), "too soon");
                Check.True(smoother.Update(1f, 0.5, out sent), "after the interval");
                // Two steps (0.05 s then 0.45 s) compose to one step of 0.5 s: 1 - e^-1 of the way.
                Check.Near(0.2 + 0.8 * (1 - Math.Exp(-1)), sent, 1e-5, "exponential average");
                var sendTimes = new List<double> { 0.5 };
                for (int frame = 1; frame <= 600; frame++)
                {
                    double now = 0.5 + frame / 60.0;
                    if (smoother.Update(1f, now, out sent)) sendTimes.Add(now);
                }
                for (int i = 1; i < sendTimes.Count; i++)
                {
                    Check.True(sendTimes[i] - sendTimes[i - 1] >= 0.1 - 1e-9, "rate limited at send " + i);
                }
                // 0.294 left at 0.5 s is within the 0.01 dead band after 0.5 s * ln(29.4) = 1.69 s.
                Check.Near(0.5 + 1.69, sendTimes[sendTimes.Count - 1], 0.05, "last send when settled");
                Check.True(sendTimes.Count <= 1 + 17, "at most one send per 0.1 s while moving");
                Check.Equal(1f, smoother.Value, "settles exactly at the target");
                Check.Equal(1f, sent, "and the settled value is sent");
                Check.True(!smoother.Update(1f, 20.0, out sent), "nothing new to send");
                Check.True(smoother.Update(float.NaN, 30.0, out sent), "NaN is a change");
                Check.Equal(0f, sent, "NaN is treated as 0 (10 time constants later: snapped)");
            });

            t.Add("client: bad settings fail before any socket is opened", () =>
            {
                var client = new MetalOscClient(new MetalOscClientOptions { ServerPort = 0 });
                Check.Throws<ArgumentOutOfRangeException>(() => client.Start(), "port 0");
                Check.True(client.LocalEndPoint == null, "nothing bound");
                Check.Throws<InvalidOperationException>(() => client.SetTension(0.5f), "not started");
                client.Dispose();
                Check.Throws<ObjectDisposedException>(() => client.Start(), "disposed");
                Check.Equal(0, client.Pump(), "pumping an idle client raises nothing");
            });

            t.Add("instrument: wire names", () =>
            {
                Check.Equal("guitar", Instrument.Guitar.ToWireName(), "guitar");
                Check.Equal("drums", Instrument.Drums.ToWireName(), "drums");
                Instrument parsed;
                Check.True(InstrumentNames.TryParse("bass", out parsed) && parsed == Instrument.Bass, "bass");
                Check.True(!InstrumentNames.TryParse("Bass", out parsed), "case-sensitive");
                Check.Throws<ArgumentOutOfRangeException>(() => ((Instrument)7).ToWireName(), "bad enum");
            });
        }

        // --- helpers -------------------------------------------------------------------------------

        private sealed class Collector : IOscMessageHandler
        {
            public readonly List<string> Addresses = new List<string>();
            public readonly List<ulong> Tags = new List<ulong>();

            public void OnMessage(OscMessage message, ulong timeTag)
            {
                Addresses.Add(message.Address);
                Tags.Add(timeTag);
            }
        }

        private sealed class ParsingCollector : IOscMessageHandler
        {
            public int Parsed;

            public void OnMessage(OscMessage message, ulong timeTag)
            {
                MetalEvent ev;
                if (MetalEventParser.TryParse(message, timeTag, out ev)) Parsed++;
            }
        }

        private static void ExpectOnlyNamedErrors(Action action, string what)
        {
            try
            {
                action();
            }
            catch (OscFormatException)
            {
            }
            catch (MetalProtocolException)
            {
            }
            catch (Exception e)
            {
                throw new CheckFailedException(what + ": unexpected " + e.GetType().Name + ": " + e.Message);
            }
        }

        private static void AddMalformed(TestRunner t, string name, byte[] bytes, string reasonPart)
        {
            t.Add("malformed: " + name, () =>
            {
                var e = Check.Throws<OscFormatException>(() => new OscReader().Parse(bytes), name);
                Check.True(e.Message.Contains(reasonPart), "message '" + e.Message + "' mentions '" + reasonPart + "'");
                Check.Throws<OscFormatException>(() => new OscReader().Read(bytes, 0, bytes.Length, new Collector()), name + " (streaming)");
            });
        }

        private static void AddBadEvent(TestRunner t, string name, OscMessage message, string reasonPart)
        {
            t.Add("events: rejects " + name, () =>
            {
                MetalEvent ev;
                var e = Check.Throws<MetalProtocolException>(() => MetalEventParser.TryParse(message, 1, out ev), name);
                Check.Equal(message.Address, e.Address, "address named");
                Check.True(e.Reason.Contains(reasonPart), "reason '" + e.Reason + "' mentions '" + reasonPart + "'");
            });
        }

        private static MetalEvent Parse(OscMessage message, ulong timeTag)
        {
            // Through bytes, so parsing is tested on what the decoder produces.
            var decoded = (OscMessage)new OscReader(MetalAddresses.KnownStrings).Parse(OscWriter.Encode(message));
            MetalEvent ev;
            Check.True(MetalEventParser.TryParse(decoded, timeTag, out ev), "known address " + message.Address);
            return ev;
        }

        private static void CheckMessage(OscMessage message, string expected)
        {
            var decoded = (OscMessage)new OscReader().Parse(OscWriter.Encode(message));
            Check.Equal(expected, decoded.ToString(), "message");
        }

        private static byte[] EncodeUnchecked(OscPacket packet)
        {
            // The writer refuses over-deep nesting too, so build the bytes by hand from the inside out.
            if (packet is OscMessage) return OscWriter.Encode(packet);
            var bundle = (OscBundle)packet;
            var parts = new List<byte[]> { BundleHeader() };
            foreach (var element in bundle.Elements)
            {
                byte[] inner = EncodeUnchecked(element);
                parts.Add(Int(inner.Length));
                parts.Add(inner);
            }
            return Concat(parts.ToArray());
        }

        private static byte[] BundleHeader()
        {
            return Concat(Encoding.ASCII.GetBytes("#bundle\0"), new byte[] { 0, 0, 0, 0, 0, 0, 0, 1 });
        }

        private static byte[] Pad(string s)
        {
            byte[] raw = Encoding.ASCII.GetBytes(s);
            var padded = new byte[(raw.Length + 4) & ~3];
            Array.Copy(raw, padded, raw.Length);
            return padded;
        }

        private static byte[] Int(int value)
        {
            return new[] { (byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value };
        }

        private static byte[] Slice(byte[] bytes, int start, int count)
        {
            var result = new byte[count];
            Array.Copy(bytes, start, result, 0, count);
            return result;
        }

        private static byte[] Concat(params byte[][] parts)
        {
            var all = new List<byte>();
            foreach (var part in parts) all.AddRange(part);
            return all.ToArray();
        }
    }
}
