using System;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>
    /// The generated builders and ranges: the agreed addresses and tags, trailing defaults left out,
    /// and the server's rules applied where a message is built.
    /// </summary>
    [TestFixture]
    public class MetalMessagesTests
    {
        [Test]
        public void BuildersEncodeTheAgreedAddressesAndArguments()
        {
            CheckMessage(MetalMessages.Subscribe(), "/metal/subscribe");
            CheckMessage(MetalMessages.Subscribe(9100, "immediate"), "/metal/subscribe 9100 \"immediate\"");
            CheckMessage(MetalMessages.Subscribe(null, "bundle"), "/metal/subscribe");
            CheckMessage(MetalMessages.Subscribe(null, "immediate"), "/metal/subscribe 0 \"immediate\"");
            CheckMessage(MetalMessages.Subscribe(9100, "bundle"), "/metal/subscribe 9100");
            CheckMessage(MetalMessages.Unsubscribe(), "/metal/unsubscribe");
            CheckMessage(MetalMessages.Tension(0.75f), "/metal/tension 0.75");
            CheckMessage(MetalMessages.Tension(0.75f, "bar"), "/metal/tension 0.75 \"bar\"");
            CheckMessage(MetalMessages.Tempo(180f), "/metal/tempo 180");
            CheckMessage(MetalMessages.Interpolate("boss_1"), "/metal/interpolate \"boss_1\"");
            CheckMessage(MetalMessages.Interpolate("calm", 16), "/metal/interpolate \"calm\" 16");
            CheckMessage(MetalMessages.SceneSave("calm-2"), "/metal/scene/save \"calm-2\"");
            CheckMessage(MetalMessages.Play(), "/metal/play");
            CheckMessage(MetalMessages.Stop(), "/metal/stop");
            CheckMessage(MetalMessages.Mute(Instrument.Bass, true), "/metal/mute \"bass\" 1");
            CheckMessage(MetalMessages.Mute("drums", false), "/metal/mute \"drums\" 0");
            CheckMessage(MetalMessages.Temperature(0.5f), "/metal/temperature 0.5");
            CheckMessage(MetalMessages.Temperature(0.5f, "section"), "/metal/temperature 0.5 \"section\"");
            CheckMessage(MetalMessages.Transition("bar"), "/metal/transition \"bar\"");
            CheckMessage(MetalMessages.Key("F#"), "/metal/key \"F#\"");
            CheckMessage(MetalMessages.Fill(), "/metal/fill");
            CheckMessage(MetalMessages.Section(), "/metal/section");
            CheckMessage(MetalMessages.Section("boss"), "/metal/section \"boss\"");
            CheckMessage(MetalMessages.Ping(OscArgument.Int(3)), "/metal/ping 3");
            CheckMessage(MetalMessages.State(), "/metal/state");
        }

        [Test]
        public void ArgumentsTravelWithTheTagsTheServerExpects()
        {
            var tension = (OscMessage)new OscReader().Parse(OscWriter.Encode(MetalMessages.Tension(0.25f)));
            Assert.AreEqual(OscArgType.Float32, tension[0].Type, "tension is 'f'");
            var mute = (OscMessage)new OscReader().Parse(OscWriter.Encode(MetalMessages.Mute(Instrument.Guitar, true)));
            Assert.AreEqual(OscArgType.Int32, mute[1].Type, "a mute flag is 'i'");
        }

        [Test]
        public void BuildersRejectValuesTheServerWouldReject()
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Tension(1.01f), "tension > 1");
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Tension(float.NaN), "tension NaN");
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Tempo(39f), "tempo");
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Tempo(float.PositiveInfinity), "tempo inf");
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Temperature(0.01f), "temperature");
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Interpolate("a", 7), "odd bars");
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Interpolate("a", 66), "too many bars");
            Assert.Throws<ArgumentException>(() => MetalMessages.SceneSave("has space"), "bad char");
            Assert.Throws<ArgumentException>(() => MetalMessages.SceneSave(new string('a', 33)), "too long");
            Assert.Throws<ArgumentException>(() => MetalMessages.SceneSave(""), "empty");
            Assert.Throws<ArgumentException>(() => MetalMessages.SceneSave("calm\n"), "a final newline");
            Assert.Throws<ArgumentNullException>(() => MetalMessages.SceneSave(null), "null");
            Assert.Throws<ArgumentException>(() => MetalMessages.Subscribe(null, "stream"), "mode");
            Assert.Throws<ArgumentOutOfRangeException>(() => MetalMessages.Subscribe(70000), "port");
            Assert.Throws<ArgumentException>(() => MetalMessages.Key("H"), "unknown key");
            Assert.Throws<ArgumentException>(() => MetalMessages.Section("a b"), "bad label");
            Assert.Throws<ArgumentException>(() => MetalMessages.Section(new string('a', 33)), "long label");
            Assert.Throws<ArgumentException>(() => MetalMessages.Tension(0.9f, "now"), "bad transition");
            Assert.Throws<ArgumentException>(() => MetalMessages.Transition("later"), "bad default transition");
            Assert.Throws<ArgumentException>(() => MetalMessages.Mute("kazoo", true), "unknown instrument");
        }

        [TestCase(0f)]
        [TestCase(0.5f)]
        [TestCase(1f)]
        public void TensionAcceptsTheWholeRangeInclusive(float value)
        {
            Assert.AreEqual(1, MetalMessages.Tension(value).Count);
        }

        [Test]
        public void FloatBoundsAreTheNearestFloat32InsideTheRange()
        {
            // 0.05 has no exact float32; the bound is the first float32 the server (float64) accepts.
            Assert.GreaterOrEqual((double)MetalRanges.TemperatureValueMin, 0.05);
            Assert.Less((double)MetalRanges.TemperatureValueMin - 0.05, 1e-8);
            Assert.AreEqual(1, MetalMessages.Temperature(MetalRanges.TemperatureValueMin).Count);
            Assert.AreEqual(40f, MetalRanges.TempoBpmMin);
            Assert.AreEqual(320f, MetalRanges.TempoBpmMax);
        }

        [Test]
        public void ConveniencesAreValuesTheProtocolAllows()
        {
            Assert.IsTrue(MetalRanges.SubscribeModeValues.Contains(MetalMessages.ModeBundle));
            Assert.IsTrue(MetalRanges.SubscribeModeValues.Contains(MetalMessages.ModeImmediate));
            Assert.AreEqual(MetalRanges.SubscribeModeDefault, MetalMessages.ModeBundle);
            foreach (string when in new[] { MetalMessages.TransitionPhrase, MetalMessages.TransitionBar, MetalMessages.TransitionSection })
            {
                Assert.IsTrue(MetalRanges.TransitionDefaultWhenValues.Contains(when), when);
                Assert.IsTrue(MetalRanges.TensionTransitionValues.Contains(when), when);
            }
            foreach (Instrument instrument in new[] { Instrument.Guitar, Instrument.Bass, Instrument.Drums })
            {
                Assert.IsTrue(MetalRanges.MuteInstrumentValues.Contains(instrument.ToWireName()));
            }
            Assert.AreEqual(InstrumentNames.Count, MetalRanges.MuteInstrumentValues.Count);
        }

        [Test]
        public void AddressesOfTheMusicalFormAreThere()
        {
            Assert.AreEqual("/metal/key", MetalAddresses.Key);
            Assert.AreEqual("/metal/fill", MetalAddresses.Fill);
            Assert.AreEqual("/metal/section", MetalAddresses.Section);
            Assert.AreEqual("/metal/transition", MetalAddresses.Transition);
            Assert.AreEqual(17, MetalRanges.KeyValues.Count, "every spelling of the twelve keys");
            CollectionAssert.Contains(MetalAddresses.KnownStrings, MetalAddresses.Section);
            CollectionAssert.Contains(MetalAddresses.KnownStrings, "F#");
        }

        private static void CheckMessage(OscMessage message, string expected)
        {
            var decoded = (OscMessage)new OscReader().Parse(OscWriter.Encode(message));
            Assert.AreEqual(expected, decoded.ToString());
        }
    }
}
