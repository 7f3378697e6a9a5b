using System;
using System.Collections.Generic;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>Sample choice, voices, the tension smoother and instrument names.</summary>
    [TestFixture]
    public class PlaybackTests
    {
        [TestCase(40, 0, Description = "exact")]
        [TestCase(46, 1, Description = "46 -> 45")]
        [TestCase(52, 2, Description = "52 -> 50")]
        [TestCase(80, -1, Description = "too far")]
        public void NearestSampleWithinTheAllowedShift(int pitch, int expected)
        {
            Assert.AreEqual(expected, SampleSelection.Nearest(new[] { 40, 45, 50, 57 }, pitch, 12));
        }

        [Test]
        public void TiesGoToTheLowerSampleAndDrumsMatchExactly()
        {
            Assert.AreEqual(1, SampleSelection.Nearest(new[] { 50, 42 }, 46, 12), "tie -> lower (42)");
            Assert.AreEqual(-1, SampleSelection.Nearest(new[] { 36, 38 }, 37, 0), "drums: exact only");
            Assert.AreEqual(1, SampleSelection.Nearest(new[] { 36, 38 }, 38, 0), "drums: exact hit");
            Assert.AreEqual(-1, SampleSelection.Nearest(new int[0], 40, 12), "no samples");
            Assert.Throws<ArgumentOutOfRangeException>(() => SampleSelection.Nearest(new[] { 40 }, 40, -1));
        }

        [Test]
        public void SamplesEveryThreeSemitonesReachEveryPitchWithinOne()
        {
            // The default band's layout: a sample every SampleStep semitones from lo + 1 reaches every
            // pitch of lo..hi with a shift of at most MaxShiftSemitones.
            const int lo = 11, hi = 120;
            var pitches = new List<int>();
            for (int p = lo + 1; p - 1 <= hi; p += DefaultBand.SampleStep) pitches.Add(p);
            int[] samples = pitches.ToArray();
            int maxShift = DefaultBand.MaxShiftSemitones(Instrument.Guitar);
            Assert.AreEqual(1, maxShift);
            for (int pitch = lo; pitch <= hi; pitch++)
            {
                int index = SampleSelection.Nearest(samples, pitch, maxShift);
                Assert.GreaterOrEqual(index, 0, "pitch " + pitch);
                Assert.LessOrEqual(Math.Abs(samples[index] - pitch), 1, "pitch " + pitch);
            }
        }

        [Test]
        public void PitchRatioAndVelocityGain()
        {
            Assert.AreEqual(2.0, SampleSelection.PitchRatio(40, 52), 1e-6, "octave up");
            Assert.AreEqual(0.5, SampleSelection.PitchRatio(52, 40), 1e-6, "octave down");
            Assert.AreEqual(Math.Pow(2, 7 / 12.0), SampleSelection.PitchRatio(45, 52), 1e-6, "fifth");
            Assert.AreEqual(0.8, SampleSelection.Gain(127, 0.8f), 1e-6, "full velocity");
            Assert.AreEqual(0.25, SampleSelection.Gain(64, 1f), 0.01, "half velocity is a quarter gain");
            Assert.AreEqual(0.0, SampleSelection.Gain(-5, 1f), 0.0, "clamped");
        }

        [Test]
        public void FreeVoicesFirstThenStealTheOneThatFreesUpSoonest()
        {
            var voices = new VoiceAllocator(2);
            int a = voices.Allocate(0.0, 1.0);
            int b = voices.Allocate(0.0, 2.0);
            Assert.AreNotEqual(a, b, "two free voices");
            Assert.AreEqual(0, voices.Steals, "no steal yet");
            Assert.AreEqual(a, voices.Allocate(1.0, 1.5), "a is free again at 1.0");
            Assert.AreEqual(0, voices.Steals, "reuse is not a steal");
            Assert.AreEqual(a, voices.Allocate(1.2, 3.0), "a ends first (1.5) so it is stolen");
            Assert.AreEqual(1, voices.Steals, "counted");
            Assert.Throws<ArgumentException>(() => voices.Allocate(2, 1), "busy-until before now");
        }

        [Test]
        public void TensionSmootherSendsTheFirstValueAtOnceThenSmoothsAndRateLimits()
        {
            var smoother = new TensionSmoother(0.5, 0.1, 0.01f);
            float sent;
            Assert.IsTrue(smoother.Update(0.2f, 0.0, out sent), "first");
            Assert.AreEqual(0.2f, sent, "first value unsmoothed");
            Assert.IsFalse(smoother.Update(1f, 0.05, out sent), "too soon");
            Assert.IsTrue(smoother.Update(1f, 0.5, out sent), "after the interval");
            // Two steps (0.05 s then 0.45 s) compose to one step of 0.5 s: 1 - e^-1 of the way.
            Assert.AreEqual(0.2 + 0.8 * (1 - Math.Exp(-1)), sent, 1e-5, "exponential average");
            var sendTimes = new List<double> { 0.5 };
            for (int frame = 1; frame <= 600; frame++)
            {
                double now = 0.5 + frame / 60.0;
                if (smoother.Update(1f, now, out sent)) sendTimes.Add(now);
            }
            for (int i = 1; i < sendTimes.Count; i++)
            {
                Assert.GreaterOrEqual(sendTimes[i] - sendTimes[i - 1], 0.1 - 1e-9, "rate limited at send " + i);
            }
            // 0.294 left at 0.5 s is within the 0.01 dead band after 0.5 s * ln(29.4) = 1.69 s.
            Assert.AreEqual(0.5 + 1.69, sendTimes[sendTimes.Count - 1], 0.05, "last send when settled");
            Assert.LessOrEqual(sendTimes.Count, 1 + 17, "at most one send per 0.1 s while moving");
            Assert.AreEqual(1f, smoother.Value, "settles exactly at the target");
            Assert.AreEqual(1f, sent, "and the settled value is sent");
            Assert.IsFalse(smoother.Update(1f, 20.0, out sent), "nothing new to send");
            Assert.IsTrue(smoother.Update(float.NaN, 30.0, out sent), "NaN is a change");
            Assert.AreEqual(0f, sent, "NaN is treated as 0 (10 time constants later: snapped)");
        }

        [Test]
        public void InstrumentWireNames()
        {
            Assert.AreEqual("guitar", Instrument.Guitar.ToWireName());
            Assert.AreEqual("drums", Instrument.Drums.ToWireName());
            Instrument parsed;
            Assert.IsTrue(InstrumentNames.TryParse("bass", out parsed));
            Assert.AreEqual(Instrument.Bass, parsed);
            Assert.IsFalse(InstrumentNames.TryParse("Bass", out parsed), "case-sensitive");
            Assert.Throws<ArgumentOutOfRangeException>(() => ((Instrument)7).ToWireName(), "bad enum");
        }
    }

    /// <summary>The default band's file-name convention and playback settings.</summary>
    [TestFixture]
    public class DefaultBandTests
    {
        [TestCase("guitar_040_E2", Instrument.Guitar, 40)]
        [TestCase("bass_016_E0.ogg", Instrument.Bass, 16)]
        [TestCase("drums_036_kick", Instrument.Drums, 36)]
        [TestCase("drums_042_closed_hihat.ogg", Instrument.Drums, 42)]
        [TestCase("guitar_120", Instrument.Guitar, 120)]
        public void SampleNamesGiveInstrumentAndPitch(string name, Instrument instrument, int pitch)
        {
            Instrument parsedInstrument;
            int parsedPitch;
            Assert.IsTrue(DefaultBand.TryParseSampleName(name, out parsedInstrument, out parsedPitch), name);
            Assert.AreEqual(instrument, parsedInstrument);
            Assert.AreEqual(pitch, parsedPitch);
        }

        [TestCase("NOTICE")]
        [TestCase("README.md")]
        [TestCase("guitar_040_E2.ogg.meta")]
        [TestCase("bass_016_E0.txt")]
        [TestCase("kazoo_040")]
        [TestCase("guitar_40")]
        [TestCase("guitar_4x0")]
        [TestCase("guitar_128")]
        [TestCase("Guitar_040")]
        [TestCase("")]
        [TestCase(null)]
        public void OtherNamesAreNotSamples(string name)
        {
            Instrument instrument;
            int pitch;
            Assert.IsFalse(DefaultBand.TryParseSampleName(name, out instrument, out pitch));
            Assert.AreEqual(-1, pitch);
        }

        [Test]
        public void StemsFollowTheConvention()
        {
            Assert.AreEqual("guitar_040", DefaultBand.SampleStem(Instrument.Guitar, 40));
            Assert.AreEqual("drums_036", DefaultBand.SampleStem(Instrument.Drums, 36));
            Assert.Throws<ArgumentOutOfRangeException>(() => DefaultBand.SampleStem(Instrument.Bass, 128));
            Instrument instrument;
            int pitch;
            Assert.IsTrue(DefaultBand.TryParseSampleName(DefaultBand.SampleStem(Instrument.Bass, 7), out instrument, out pitch));
            Assert.AreEqual(7, pitch);
        }

        [Test]
        public void DrumsPlayExactNotesAndRingOut()
        {
            Assert.AreEqual(0, DefaultBand.MaxShiftSemitones(Instrument.Drums));
            Assert.IsTrue(DefaultBand.RingOut(Instrument.Drums));
            Assert.IsFalse(DefaultBand.RingOut(Instrument.Guitar));
            Assert.AreEqual(1, DefaultBand.MaxShiftSemitones(Instrument.Bass));
        }
    }
}
