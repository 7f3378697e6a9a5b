using System;
using System.Collections.Generic;
using System.Text;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>
    /// Malformed packets: every failure is an <see cref="OscFormatException"/> naming what is wrong,
    /// never an IndexOutOfRangeException, in both the tree parser and the streaming reader.
    /// </summary>
    [TestFixture]
    public class OscMalformedInputTests
    {
        private static readonly byte[] Valid = OscWriter.Encode(new OscMessage("/m").Add(1).Add("ab"));

        // Attribute arguments must be constants, so each case is named here and built below.
        private static readonly Dictionary<string, byte[]> Packets = new Dictionary<string, byte[]>
        {
            { "empty packet", new byte[0] },
            { "size not a multiple of 4", new byte[] { (byte)'/', (byte)'a', 0 } },
            { "neither / nor #", new byte[] { (byte)'x', 0, 0, 0 } },
            { "address without NUL", Encoding.ASCII.GetBytes("/abc") },
            { "type tags without comma", OscBytes.Concat(OscBytes.Pad("/a"), OscBytes.Pad("if")) },
            { "truncated int argument", OscBytes.Concat(OscBytes.Pad("/a"), OscBytes.Pad(",i")) },
            { "truncated float argument", OscBytes.Concat(OscBytes.Pad("/a"), OscBytes.Pad(",ff"), new byte[4]) },
            { "truncated double argument", OscBytes.Concat(OscBytes.Pad("/a"), OscBytes.Pad(",d"), new byte[4]) },
            { "string argument missing", OscBytes.Concat(OscBytes.Pad("/a"), OscBytes.Pad(",s")) },
            { "unsupported type tag", OscBytes.Concat(OscBytes.Pad("/a"), OscBytes.Pad(",b"), new byte[4]) },
            { "trailing bytes", OscBytes.Concat(Valid, new byte[4]) },
            { "invalid UTF-8", OscBytes.Concat(OscBytes.Pad("/a"), OscBytes.Pad(",s"), new byte[] { 0xC3, 0x28, 0, 0 }) },
            { "bad bundle tag", OscBytes.Concat(Encoding.ASCII.GetBytes("#bundlX\0"), new byte[8]) },
            { "short bundle header", Encoding.ASCII.GetBytes("#bundle\0") },
            { "element size past the end", OscBytes.Concat(OscBytes.BundleHeader(), OscBytes.Int(64), Valid) },
            { "negative element size", OscBytes.Concat(OscBytes.BundleHeader(), OscBytes.Int(-4), Valid) },
            { "zero element size", OscBytes.Concat(OscBytes.BundleHeader(), OscBytes.Int(0)) },
            { "element size not a multiple of 4", OscBytes.Concat(OscBytes.BundleHeader(), OscBytes.Int(6), new byte[8]) },
            { "element size missing", OscBytes.Concat(OscBytes.BundleHeader(), OscBytes.Int(8), new byte[4]) },
        };

        [TestCase("empty packet", "packet size 0")]
        [TestCase("size not a multiple of 4", "multiple of 4")]
        [TestCase("neither / nor #", "neither")]
        [TestCase("address without NUL", "not NUL-terminated")]
        [TestCase("type tags without comma", "','")]
        [TestCase("truncated int argument", "int32 argument needs 4 bytes")]
        [TestCase("truncated float argument", "float32 argument needs 4 bytes")]
        [TestCase("truncated double argument", "float64 argument needs 8 bytes")]
        [TestCase("string argument missing", "string argument")]
        [TestCase("unsupported type tag", "unsupported type tag 'b'")]
        [TestCase("trailing bytes", "trailing bytes")]
        [TestCase("invalid UTF-8", "UTF-8")]
        [TestCase("bad bundle tag", "'#bundle'")]
        [TestCase("short bundle header", "16-byte header")]
        [TestCase("element size past the end", "runs past the end")]
        [TestCase("negative element size", "positive multiple of 4")]
        [TestCase("zero element size", "positive multiple of 4")]
        [TestCase("element size not a multiple of 4", "positive multiple of 4")]
        [TestCase("element size missing", "runs past the end")]
        public void IsRejectedWithANamedReason(string packet, string reasonPart)
        {
            byte[] bytes = Packets[packet];
            var e = Assert.Throws<OscFormatException>(() => new OscReader().Parse(bytes));
            StringAssert.Contains(reasonPart, e.Message);
            Assert.Throws<OscFormatException>(
                () => new OscReader().Read(bytes, 0, bytes.Length, new CollectingHandler()), "streaming");
        }

        [Test]
        public void EveryNamedCaseIsTested()
        {
            // A case added to the table but not to the attributes above would never run.
            Assert.AreEqual(19, Packets.Count);
        }

        [Test]
        public void BundlesNestedTooDeepAreRejected()
        {
            OscPacket packet = new OscMessage("/deep");
            for (int i = 0; i < OscReader.MaxBundleDepth + 1; i++) packet = new OscBundle(OscTimeTag.Immediately).Add(packet);
            byte[] bytes = OscBytes.EncodeUnchecked(packet);
            var e = Assert.Throws<OscFormatException>(() => new OscReader().Parse(bytes));
            StringAssert.Contains("nested deeper", e.Reason);
            Assert.Throws<OscFormatException>(() => new OscReader().Read(bytes, 0, bytes.Length, new CollectingHandler()));
        }

        [Test]
        public void EveryTruncationAndByteFlipFailsWithANamedErrorOnly()
        {
            var packet = new OscBundle(OscTimeTag.FromUnixSeconds(1764054000.5))
                .Add(new OscMessage("/metal/note").Add("bass").Add(40).Add(90).Add(0.5f).Add(2f))
                .Add(new OscBundle(OscTimeTag.FromUnixSeconds(1764054001.0))
                    .Add(new OscMessage("/metal/state").Add(1).Add(0.5f).Add(120f).Add(1f).Add(0).Add(0).Add(1)
                        .Add("boss").Add("E").Add("phrase")));
            byte[] bytes = OscWriter.Encode(packet);
            var reader = new OscReader(MetalAddresses.KnownStrings);
            var handler = new ParsingHandler();
            for (int length = 0; length < bytes.Length; length++)
            {
                // An exact-length copy, so reading past the end would hit the array bound.
                byte[] truncated = OscBytes.Slice(bytes, 0, length);
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
                Assert.Fail(what + ": unexpected " + e.GetType().Name + ": " + e.Message);
            }
        }
    }
}
