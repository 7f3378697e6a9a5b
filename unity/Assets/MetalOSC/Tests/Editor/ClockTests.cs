using System;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>Clock sync (server → local), the DSP clock mapping (local → DSP) and note timing.</summary>
    [TestFixture]
    public class ClockTests
    {
        [Test]
        public void OneSymmetricRoundTripGivesTheMidpointOffset()
        {
            var sync = new ClockSync(() => 0);
            Assert.IsTrue(sync.AddSample(10.0, 1000.05, 10.1), "accepted");
            Assert.AreEqual(990.0, sync.Offset, 1e-9, "offset");
            Assert.AreEqual(0.1, sync.RoundTrip, 1e-9, "rtt");
            Assert.AreEqual(1000.05 - 990.0, sync.ServerToLocal(1000.05), 1e-9, "server→local");
            Assert.AreEqual(1000.05, sync.LocalToServer(10.05), 1e-9, "local→server");
        }

        [Test]
        public void TheLowestRoundTripWinsOverLaterSlowerSamples()
        {
            var sync = new ClockSync(() => 0, 8);
            sync.AddSample(0.0, 500.01, 0.02);      // offset 500.0, rtt 0.02
            sync.AddSample(1.0, 501.3, 1.4);        // queued reply: offset 500.1, rtt 0.4
            sync.AddSample(2.0, 502.01, 2.03);      // offset 499.995, rtt 0.03
            Assert.AreEqual(500.0, sync.Offset, 1e-9, "best sample");
            Assert.AreEqual(0.02, sync.RoundTrip, 1e-9, "best rtt");
            Assert.AreEqual(3, sync.SampleCount);
        }

        [Test]
        public void OldSamplesLeaveTheWindowSoDriftIsFollowed()
        {
            var sync = new ClockSync(() => 0, 4);
            sync.AddSample(0.0, 100.005, 0.01);     // excellent but old: offset 100.0
            for (int i = 1; i <= 4; i++) sync.AddSample(i, i + 100.5 + 0.025, i + 0.05);  // offset 100.5
            Assert.AreEqual(100.5, sync.Offset, 1e-9, "old best evicted");
            Assert.AreEqual(4, sync.SampleCount, "window full");
        }

        [Test]
        public void ImpossibleOrUselessSamplesAreRejected()
        {
            var sync = new ClockSync(() => 0, 4, 0.5);
            Assert.IsFalse(sync.AddSample(1.0, 5.0, 0.9), "negative rtt");
            Assert.IsFalse(sync.AddSample(1.0, 5.0, 1.6), "too slow");
            Assert.IsFalse(sync.AddSample(1.0, double.NaN, 1.1), "NaN server time");
            Assert.IsFalse(sync.HasEstimate, "still no estimate");
        }

        [Test]
        public void TheSeedIsUsedUntilTheFirstPong()
        {
            var sync = new ClockSync(() => 0);
            sync.Seed(42.0);
            Assert.AreEqual(42.0, sync.Offset, 0.0, "seed");
            Assert.IsTrue(double.IsPositiveInfinity(sync.RoundTrip), "no rtt yet");
            sync.AddSample(1.0, 51.05, 1.1);
            Assert.AreEqual(50.0, sync.Offset, 1e-9, "measured replaces seed");
        }

        [Test]
        public void PingsAreMatchedToPongsBySequenceNumber()
        {
            double now = 5.0;
            var sync = new ClockSync(() => now);
            int first = sync.BeginPing();
            now = 5.5;
            int second = sync.BeginPing();
            Assert.AreNotEqual(first, second, "distinct sequence numbers");
            Assert.IsFalse(sync.CompletePing(second + 100, 0, 6), "unknown seq");
            Assert.IsTrue(sync.CompletePing(second, 105.55, 5.6), "second");
            Assert.AreEqual(100.0, sync.Offset, 1e-9, "offset from second");
            Assert.IsFalse(sync.CompletePing(second, 105.55, 5.6), "duplicate pong");
            Assert.IsTrue(sync.CompletePing(first, 105.3, 5.6), "late first pong");
            Assert.AreEqual(100.0, sync.Offset, 1e-9, "slow first pong loses");
        }

        [Test]
        public void EstimateConvergesUnderAsymmetricRandomDelays()
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
            Assert.LessOrEqual(Math.Abs(sync.Offset - trueOffset), sync.Uncertainty + 1e-9, "within rtt/2");
            Assert.AreEqual(trueOffset, sync.Offset, 0.002, "close to the true offset");
        }

        [Test]
        public void MaxFilterRecoversAClockThatOnlyAdvancesPerAudioBuffer()
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
            Assert.AreEqual(dspStart - 7.0, mapper.Offset, 0.002, "offset within 2 ms");
            Assert.AreEqual(dspStart + 5.0, mapper.LocalToDsp(12.0), 0.002, "mapped time");
        }

        [Test]
        public void AnEmptyMapperIsTheIdentityAndResetForgets()
        {
            var mapper = new DspClockMapper(4);
            Assert.AreEqual(3.0, mapper.LocalToDsp(3.0), "identity");
            mapper.Observe(1.0, 11.0);
            Assert.AreEqual(13.0, mapper.LocalToDsp(3.0), "shifted");
            mapper.Reset();
            Assert.IsFalse(mapper.HasObservation, "reset");
            Assert.Throws<ArgumentException>(() => mapper.Observe(double.NaN, 1.0), "NaN");
        }

        [Test]
        public void BundleTimetagMapsThroughClockSyncAndTheDspClock()
        {
            var sync = new ClockSync(() => 0);
            sync.AddSample(10.0, 1764054010.05, 10.1);            // server = local + 1764054000
            var dsp = new DspClockMapper();
            dsp.Observe(10.0, 2.0);                                // dsp = local - 8
            var note = new NoteEvent { Instrument = Instrument.Guitar, Pitch = 64, Velocity = 100, DurationSeconds = 0.25f, Beat = 1.5f };
            ulong tag = OscTimeTag.FromUnixSeconds(1764054012.5);
            var scheduled = NoteScheduling.Schedule(note, tag, sync, dsp, 2.3);
            Assert.AreEqual(1764054012.5, scheduled.SoundTimeUnix, 1e-6, "sound time");
            Assert.AreEqual(12.5 - 8.0, scheduled.LocalDspTime, 1e-6, "dsp time");
            Assert.AreEqual(tag, scheduled.TimeTag, "raw timetag kept");
            Assert.AreEqual(64, scheduled.Pitch);
            Assert.AreEqual(1.5f, scheduled.Beat);
            Assert.IsFalse(scheduled.IsImmediate);
        }

        [Test]
        public void BeatTimesMapLikeNoteTimes()
        {
            var sync = new ClockSync(() => 0);
            sync.Seed(100.0);
            var dsp = new DspClockMapper();
            dsp.Observe(0.0, 5.0);
            Assert.AreEqual(105.0 - 100.0 + 5.0, NoteScheduling.ToDspTime(OscTimeTag.FromUnixSeconds(105.0), sync, dsp, 7.0), 1e-6, "timed");
            Assert.AreEqual(7.0, NoteScheduling.ToDspTime(OscTimeTag.Immediately, sync, dsp, 7.0), "immediate");
        }

        [Test]
        public void ImmediateNotesPlayAtTheCurrentDspTime()
        {
            var scheduled = NoteScheduling.Schedule(new NoteEvent { Pitch = 36 }, OscTimeTag.Immediately,
                new ClockSync(() => 0), new DspClockMapper(), 55.5);
            Assert.IsTrue(scheduled.IsImmediate);
            Assert.AreEqual(55.5, scheduled.LocalDspTime);
        }
    }
}
