using System;
using System.Collections.Generic;
using System.Reflection;
using System.Text;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>The OSC codec: exact bytes, round trips, bundles and timetags, and an allocation-free receive path.</summary>
    [TestFixture]
    public class OscCodecTests
    {
        [Test]
        public void MessageEncodesToTheExactBigEndianBytes()
        {
            byte[] bytes = OscWriter.Encode(new OscMessage("/metal/tension").Add(0.5f));
            var expected = new List<byte>(Encoding.ASCII.GetBytes("/metal/tension"));
            expected.AddRange(new byte[] { 0, 0 });
            expected.AddRange(new byte[] { (byte)',', (byte)'f', 0, 0 });
            expected.AddRange(new byte[] { 0x3F, 0x00, 0x00, 0x00 });
            CollectionAssert.AreEqual(expected.ToArray(), bytes);
        }

        [Test]
        public void Int32IsWrittenMostSignificantByteFirst()
        {
            byte[] bytes = OscWriter.Encode(new OscMessage("/a").Add(0x01020304));
            CollectionAssert.AreEqual(
                new byte[] { (byte)'/', (byte)'a', 0, 0, (byte)',', (byte)'i', 0, 0, 1, 2, 3, 4 }, bytes);
        }

        [Test]
        public void EveryArgumentTypeRoundTrips()
        {
            var message = new OscMessage("/x/y")
                .Add(-7).Add(0.1f).Add("héllo").Add(true).Add(false)
                .Add(OscArgument.Long(-1234567890123L)).Add(1764054000.123456789).Add("");
            var parsed = (OscMessage)new OscReader().Parse(OscWriter.Encode(message));
            Assert.AreEqual("/x/y", parsed.Address);
            Assert.AreEqual(message.Count, parsed.Count, "argument count");
            for (int i = 0; i < message.Count; i++)
            {
                Assert.AreEqual(message[i], parsed[i], "argument " + i);
            }
            Assert.AreEqual(0.1f, (float)parsed[1].FloatValue, "float32 keeps its exact bits");
        }

        [TestCase(0)]
        [TestCase(1)]
        [TestCase(2)]
        [TestCase(3)]
        [TestCase(4)]
        [TestCase(5)]
        [TestCase(7)]
        [TestCase(8)]
        public void StringsArePaddedToFourBytesAtEveryLength(int length)
        {
            string s = new string('a', length);
            byte[] bytes = OscWriter.Encode(new OscMessage("/s").Add(s).Add(length));
            Assert.AreEqual(0, bytes.Length % 4, "length a multiple of 4");
            var parsed = (OscMessage)new OscReader().Parse(bytes);
            Assert.AreEqual(s, parsed[0].StringValue);
            Assert.AreEqual((long)length, parsed[1].IntValue, "the int after the string");
        }

        [Test]
        public void MessageWithoutTypeTagStringHasNoArguments()
        {
            var parsed = (OscMessage)new OscReader().Parse(new byte[] { (byte)'/', (byte)'p', 0, 0 });
            Assert.AreEqual("/p", parsed.Address);
            Assert.AreEqual(0, parsed.Count);
        }

        [Test]
        public void BundleWithTimetagRoundTrips()
        {
            ulong tag = OscTimeTag.FromUnixSeconds(1764054000.25);
            var bundle = new OscBundle(tag)
                .Add(new OscMessage("/metal/note").Add("guitar").Add(40).Add(100).Add(0.25f).Add(1.5f))
                .Add(new OscMessage("/metal/beat").Add(3).Add(2));
            byte[] bytes = OscWriter.Encode(bundle);
            CollectionAssert.AreEqual(Encoding.ASCII.GetBytes("#bundle\0"), OscBytes.Slice(bytes, 0, 8), "header");
            var parsed = (OscBundle)new OscReader().Parse(bytes);
            Assert.AreEqual(tag, parsed.TimeTag);
            Assert.AreEqual(2, parsed.Elements.Count);
            Assert.AreEqual("/metal/beat", ((OscMessage)parsed.Elements[1]).Address);
        }

        [Test]
        public void NestedBundlesGiveEachMessageItsInnermostTimetag()
        {
            ulong outer = OscTimeTag.FromUnixSeconds(100.0);
            ulong inner = OscTimeTag.FromUnixSeconds(101.0);
            var packet = new OscBundle(outer)
                .Add(new OscMessage("/a"))
                .Add(new OscBundle(inner).Add(new OscMessage("/b")))
                .Add(new OscBundle(OscTimeTag.Immediately).Add(new OscMessage("/c")))
                .Add(new OscMessage("/d"));
            byte[] bytes = OscWriter.Encode(packet);
            var seen = new CollectingHandler();
            new OscReader().Read(bytes, 0, bytes.Length, seen);
            Assert.AreEqual("/a /b /c /d", string.Join(" ", seen.Addresses.ToArray()), "order");
            Assert.AreEqual(outer, seen.Tags[0], "/a");
            Assert.AreEqual(inner, seen.Tags[1], "/b");
            Assert.AreEqual(outer, seen.Tags[2], "/c inherits the enclosing time");
            Assert.AreEqual(outer, seen.Tags[3], "/d");
        }

        [Test]
        public void BareMessageIsDeliveredAsImmediate()
        {
            var seen = new CollectingHandler();
            byte[] bytes = OscWriter.Encode(new OscMessage("/z").Add(1));
            new OscReader().Read(bytes, 0, bytes.Length, seen);
            Assert.AreEqual(OscTimeTag.Immediately, seen.Tags[0]);
        }

        [Test]
        public void ReadingHonoursOffsetAndCountInsideALargerBuffer()
        {
            byte[] message = OscWriter.Encode(new OscMessage("/q").Add(5));
            byte[] big = new byte[message.Length + 12];
            Array.Copy(message, 0, big, 8, message.Length);
            var parsed = (OscMessage)new OscReader().Parse(big, 8, message.Length);
            Assert.AreEqual((long)5, parsed[0].IntValue);
        }

        [Test]
        public void KnownStringsAreReturnedAsTheSharedInstance()
        {
            var reader = new OscReader(MetalAddresses.KnownStrings);
            byte[] bytes = OscWriter.Encode(new OscMessage("/metal/note").Add("drums"));
            var parsed = (OscMessage)reader.Parse(bytes);
            Assert.AreSame(MetalAddresses.Note, parsed.Address, "address interned");
            Assert.AreSame("drums", parsed[0].StringValue, "instrument interned");
        }

        [Test]
        public void WriterReusesAndGrowsItsBuffer()
        {
            var writer = new OscWriter(64);
            int small = writer.Write(new OscMessage("/a").Add(1));
            Assert.AreEqual(12, small, "small length");
            int big = writer.Write(new OscMessage("/b").Add(new string('x', 1000)));
            Assert.AreEqual(4 + 4 + 1004, big, "big length");
            Assert.GreaterOrEqual(writer.Buffer.Length, big, "buffer grew");
            var parsed = (OscMessage)new OscReader().Parse(writer.Buffer, 0, big);
            Assert.AreEqual(1000, parsed[0].StringValue.Length);
        }

        [Test]
        public void WriterRejectsBadAddressesAndNulInStrings()
        {
            Assert.Throws<ArgumentException>(() => OscWriter.Encode(new OscMessage("nope")), "no slash");
            Assert.Throws<ArgumentException>(() => OscWriter.Encode(new OscMessage("/a").Add("x\0y")), "NUL");
        }

        [Test]
        public void TimetagKnownNtpValues()
        {
            Assert.AreEqual(2208988800UL << 32, OscTimeTag.FromUnixSeconds(0.0), "unix epoch");
            Assert.AreEqual((2208988800UL << 32) | 0x80000000UL, OscTimeTag.FromUnixSeconds(0.5), "half second");
            Assert.AreEqual(0.25, OscTimeTag.ToUnixSeconds((2208988800UL << 32) | 0x40000000UL), 0.0, "quarter");
            Assert.Throws<ArgumentException>(() => OscTimeTag.ToUnixSeconds(OscTimeTag.Immediately), "immediately");
            Assert.Throws<ArgumentOutOfRangeException>(() => OscTimeTag.FromUnixSeconds(double.NaN), "NaN");
        }

        [Test]
        public void TimetagUnixRoundTripKeepsSubMicrosecondPrecision()
        {
            var random = new Random(7);
            for (int i = 0; i < 1000; i++)
            {
                double unix = 1.7e9 + random.NextDouble() * 1e8;
                Assert.AreEqual(unix, OscTimeTag.ToUnixSeconds(OscTimeTag.FromUnixSeconds(unix)), 1e-6);
            }
        }

        [Test]
        public void SteadyStateDecodingOfNoteBundlesAllocatesNothing()
        {
            // Unity's GC pauses are audible; the receive path must not feed it per packet. The
            // per-thread allocation counter is missing from some API profiles: then there is
            // nothing to measure with.
            MethodInfo allocated = typeof(GC).GetMethod("GetAllocatedBytesForCurrentThread", Type.EmptyTypes);
            if (allocated == null) Assert.Ignore("GC.GetAllocatedBytesForCurrentThread is not in this runtime");
            var bundle = new OscBundle(OscTimeTag.FromUnixSeconds(1764054000.5))
                .Add(new OscMessage("/metal/note").Add("guitar").Add(40).Add(100).Add(0.25f).Add(1.5f))
                .Add(new OscMessage("/metal/note").Add("drums").Add(36).Add(127).Add(0.125f).Add(1.5f))
                .Add(new OscMessage("/metal/beat").Add(3).Add(2));
            byte[] bytes = OscWriter.Encode(bundle);
            var reader = new OscReader(MetalAddresses.KnownStrings);
            var handler = new ParsingHandler();
            for (int i = 0; i < 100; i++) reader.Read(bytes, 0, bytes.Length, handler);  // warm-up
            long before = (long)allocated.Invoke(null, null);
            for (int i = 0; i < 10000; i++) reader.Read(bytes, 0, bytes.Length, handler);
            long used = (long)allocated.Invoke(null, null) - before;
            // The two reflective calls box their results: a few dozen bytes, not one per packet.
            Assert.Less(used, 1000, "bytes allocated for 10000 packets");
            Assert.AreEqual(30300, handler.Parsed, "every message parsed");
        }
    }
}
