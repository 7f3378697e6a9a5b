using System.Collections.Generic;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>Server events parsed from decoded bytes, with the server's argument rules.</summary>
    [TestFixture]
    public class MetalEventParserTests
    {
        [Test]
        public void NoteParsesWithItsTimetag()
        {
            ulong tag = OscTimeTag.FromUnixSeconds(1000.5);
            var ev = Parse(new OscMessage("/metal/note").Add("drums").Add(36).Add(127).Add(0.125f).Add(3.25f), tag);
            Assert.AreEqual(MetalEventKind.Note, ev.Kind);
            Assert.AreEqual(Instrument.Drums, ev.Note.Instrument);
            Assert.AreEqual(36, ev.Note.Pitch);
            Assert.AreEqual(127, ev.Note.Velocity);
            Assert.AreEqual(0.125f, ev.Note.DurationSeconds);
            Assert.AreEqual(3.25f, ev.Note.Beat);
            Assert.AreEqual(tag, ev.TimeTag);
        }

        [Test]
        public void AnIntIsAcceptedWhereAFloatIsExpected()
        {
            var ev = Parse(new OscMessage("/metal/note").Add("guitar").Add(52).Add(80).Add(1).Add(4), OscTimeTag.Immediately);
            Assert.AreEqual(1f, ev.Note.DurationSeconds);
            Assert.AreEqual(4f, ev.Note.Beat);
        }

        [Test]
        public void BeatPhraseAndError()
        {
            var beat = Parse(new OscMessage("/metal/beat").Add(12).Add(3), 1);
            Assert.AreEqual(12, beat.Beat.Bar);
            Assert.AreEqual(3, beat.Beat.Beat);
            var phrase = Parse(new OscMessage("/metal/phrase").Add("bass").Add(77).Add(0.75f), 1);
            Assert.AreEqual(Instrument.Bass, phrase.Phrase.Instrument);
            Assert.AreEqual(77, phrase.Phrase.Id);
            Assert.AreEqual(0.75f, phrase.Phrase.Tension);
            var error = Parse(new OscMessage("/metal/error").Add("/metal/tempo").Add("bpm 500 outside 40..320"), 1);
            Assert.AreEqual("/metal/tempo", error.Error.Address);
            Assert.AreEqual("bpm 500 outside 40..320", error.Error.Reason);
        }

        [Test]
        public void StateWithIntAndTrueFalseBooleans()
        {
            var ev = Parse(new OscMessage("/metal/state").Add(1).Add(0.5f).Add(140f).Add(0.9f)
                .Add(0).Add(true).Add(1).Add("boss").Add("D").Add("bar"), 1);
            Assert.AreEqual(MetalEventKind.State, ev.Kind);
            Assert.IsTrue(ev.State.Playing);
            Assert.AreEqual(140f, ev.State.Bpm);
            Assert.AreEqual(0.9f, ev.State.Temperature);
            Assert.IsFalse(ev.State.IsMuted(Instrument.Guitar));
            Assert.IsTrue(ev.State.IsMuted(Instrument.Bass));
            Assert.IsTrue(ev.State.IsMuted(Instrument.Drums));
            Assert.AreEqual("boss", ev.State.Scene);
            Assert.AreEqual("D", ev.State.Key);
            Assert.AreEqual("bar", ev.State.Transition);
        }

        [Test]
        public void SectionStartWithItsIndexLabelKeyAndTension()
        {
            var ev = Parse(new OscMessage("/metal/section").Add(3).Add("boss").Add("D").Add(0.9f), 1);
            Assert.AreEqual(MetalEventKind.Section, ev.Kind);
            Assert.AreEqual(3, ev.Section.Index);
            Assert.AreEqual("boss", ev.Section.Label);
            Assert.AreEqual("D", ev.Section.Key);
            Assert.AreEqual(0.9f, ev.Section.Tension);
        }

        [Test]
        public void PongSplitsEchoedArgumentsFromTheServerTime()
        {
            var ev = Parse(new OscMessage("/metal/pong").Add("metalosc-sync").Add(9).Add(1764054000.125), 1);
            Assert.AreEqual(2, ev.Pong.Arguments.Length, "echoed");
            Assert.AreEqual((long)9, ev.Pong.Arguments[1].IntValue, "seq");
            Assert.AreEqual(1764054000.125, ev.Pong.ServerTime, "server time (double)");
            var bare = Parse(new OscMessage("/metal/pong").Add(12.5f), 1);
            Assert.AreEqual(0, bare.Pong.Arguments.Length, "no echo");
            Assert.AreEqual(12.5, bare.Pong.ServerTime, "server time (float)");
        }

        [Test]
        public void UnknownAddressesAreSkippedNotErrors()
        {
            MetalEvent ev;
            Assert.IsFalse(MetalEventParser.TryParse(new OscMessage("/metal/future").Add(1), 1, out ev));
        }

        // Attribute arguments must be constants, so each bad message is named here and built below.
        private static readonly Dictionary<string, OscMessage> BadEvents = new Dictionary<string, OscMessage>
        {
            { "wrong argument count", new OscMessage("/metal/beat").Add(1) },
            { "float where int expected", new OscMessage("/metal/beat").Add(1f).Add(2) },
            { "unknown instrument", new OscMessage("/metal/note").Add("kazoo").Add(1).Add(1).Add(1f).Add(1f) },
            { "pitch out of range", new OscMessage("/metal/note").Add("bass").Add(128).Add(1).Add(1f).Add(1f) },
            { "velocity out of range", new OscMessage("/metal/note").Add("bass").Add(40).Add(-1).Add(1f).Add(1f) },
            { "negative duration", new OscMessage("/metal/note").Add("bass").Add(40).Add(1).Add(-0.5f).Add(1f) },
            { "string where number expected", new OscMessage("/metal/phrase").Add("bass").Add(1).Add("x") },
            { "bool out of 0/1", new OscMessage("/metal/state").Add(2).Add(0f).Add(120f).Add(1f).Add(0).Add(0).Add(0).Add("").Add("E").Add("phrase") },
            { "bare state request from server", new OscMessage("/metal/state") },
            { "empty pong", new OscMessage("/metal/pong") },
            { "non-finite float", new OscMessage("/metal/phrase").Add("bass").Add(1).Add(float.NaN) },
        };

        [TestCase("wrong argument count", "expected 2 arguments, got 1")]
        [TestCase("float where int expected", "must be an int")]
        [TestCase("unknown instrument", "unknown instrument 'kazoo'")]
        [TestCase("pitch out of range", "pitch 128 outside 0..127")]
        [TestCase("velocity out of range", "velocity -1 outside 0..127")]
        [TestCase("negative duration", "must not be negative")]
        [TestCase("string where number expected", "must be a number")]
        [TestCase("bool out of 0/1", "0/1 or T/F")]
        [TestCase("bare state request from server", "expected 10 arguments")]
        [TestCase("empty pong", "server time")]
        [TestCase("non-finite float", "not finite")]
        public void RejectsWithTheAddressAndAReason(string name, string reasonPart)
        {
            OscMessage message = BadEvents[name];
            MetalEvent ev;
            var e = Assert.Throws<MetalProtocolException>(() => MetalEventParser.TryParse(message, 1, out ev));
            Assert.AreEqual(message.Address, e.Address, "address named");
            StringAssert.Contains(reasonPart, e.Reason);
        }

        [Test]
        public void EveryBadEventIsTested()
        {
            Assert.AreEqual(11, BadEvents.Count);
        }

        private static MetalEvent Parse(OscMessage message, ulong timeTag)
        {
            // Through bytes, so parsing is tested on what the decoder produces.
            var decoded = (OscMessage)new OscReader(MetalAddresses.KnownStrings).Parse(OscWriter.Encode(message));
            MetalEvent ev;
            Assert.IsTrue(MetalEventParser.TryParse(decoded, timeTag, out ev), "known address " + message.Address);
            return ev;
        }
    }
}
