using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>
    /// The client's life cycle, and what it does with timed events before the clock is synced, against
    /// a server played by the test on loopback UDP (the probe covers full sessions).
    /// </summary>
    [TestFixture]
    public class MetalOscClientTests
    {
        [Test]
        public void BadSettingsFailBeforeAnySocketIsOpened()
        {
            var client = new MetalOscClient(new MetalOscClientOptions { ServerPort = 0 });
            Assert.Throws<ArgumentOutOfRangeException>(() => client.Start(), "port 0");
            Assert.IsNull(client.LocalEndPoint, "nothing bound");
            Assert.Throws<InvalidOperationException>(() => client.SetTension(0.5f), "not started");
            client.Dispose();
            Assert.Throws<ObjectDisposedException>(() => client.Start(), "disposed");
            Assert.AreEqual(0, client.Pump(), "pumping an idle client raises nothing");
        }

        [Test]
        public void AnUnknownModeIsRefusedAtStart()
        {
            var client = new MetalOscClient(new MetalOscClientOptions { Mode = "stream" });
            try
            {
                Assert.Throws<ArgumentException>(() => client.Start());
                Assert.IsNull(client.LocalEndPoint, "nothing bound");
            }
            finally
            {
                client.Dispose();
            }
        }
    

        [Test]
        public void TimedEventsWaitForTheFirstClockSyncRoundTrip()
        {
            // The local clock reads 1000 s behind the server's, and the client is seeded with a
            // wrong offset (0): a note mapped before the first pong would land 1000 s late.
            const double trueOffset = 1000.0;
            double localNow = 50.0;
            using (var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
            using (var client = new MetalOscClient(new MetalOscClientOptions
            {
                ServerPort = ((IPEndPoint)server.Client.LocalEndPoint).Port,
                LocalClock = () => Volatile.Read(ref localNow),
                UnixClock = () => Volatile.Read(ref localNow),
            }))
            {
                var notes = new List<ScheduledNote>();
                var beats = new List<BeatEvent>();
                client.NoteScheduled += notes.Add;
                client.BeatReceived += beats.Add;
                client.Start();
                client.Pump();  // sends the first sync ping
                IPEndPoint from = null;
                Assert.AreEqual(MetalAddresses.Subscribe, Receive(server, ref from).Address);
                OscMessage ping = Receive(server, ref from);
                Assert.AreEqual(MetalAddresses.Ping, ping.Address);

                double soundAt = 1050.5;  // server unix time, 0.5 s ahead
                var bundle = new OscBundle(OscTimeTag.FromUnixSeconds(soundAt))
                    .Add(new OscMessage(MetalAddresses.Note).Add("drums").Add(36).Add(127).Add(0.1f).Add(0f))
                    .Add(new OscMessage(MetalAddresses.Beat).Add(1).Add(0));
                Send(server, from, bundle);
                Send(server, from, new OscMessage(MetalAddresses.Note).Add("bass").Add(28).Add(90).Add(0.5f).Add(0f));
                WaitFor(() => client.PacketsReceived >= 2);
                client.Pump();
                Assert.AreEqual(1, notes.Count, "only the untimed note plays before sync");
                Assert.IsTrue(notes[0].IsImmediate);
                Assert.AreEqual(0, beats.Count, "the timed beat waits too");
                Assert.AreEqual(2, client.HeldUntilSync, "note and beat held");

                // The pong: sent at local 50.0, answered at server 1050.01, back at local 50.02.
                Volatile.Write(ref localNow, 50.02);
                var pong = new OscMessage(MetalAddresses.Pong);
                foreach (OscArgument a in ping.Arguments) pong.Add(a);
                Send(server, from, pong.Add(1050.01));
                // the receive thread counts the packet before it hands the pong to the clock
                WaitFor(() => client.Clock.HasEstimate);
                client.Pump();
                Assert.AreEqual(2, notes.Count, "the held note is scheduled once synced");
                Assert.AreEqual(soundAt - trueOffset, notes[1].LocalDspTime, client.Clock.Uncertainty + 1e-6);
                Assert.AreEqual(1, beats.Count);
                Assert.AreEqual(soundAt - trueOffset, beats[0].LocalDspTime, client.Clock.Uncertainty + 1e-6);
                Assert.AreEqual(0, client.DroppedEvents);
            }
        }

        private static OscMessage Receive(UdpClient server, ref IPEndPoint from)
        {
            server.Client.ReceiveTimeout = 5000;
            byte[] data = server.Receive(ref from);
            var handler = new FirstMessage();
            new OscReader().Read(data, 0, data.Length, handler);
            return handler.Message;
        }

        private static void Send(UdpClient server, IPEndPoint to, OscPacket packet)
        {
            byte[] data = OscWriter.Encode(packet);
            server.Send(data, data.Length, to);
        }

        /// <summary>Waits (at most 5 s) for the receive thread to have handled a datagram.</summary>
        private static void WaitFor(Func<bool> condition)
        {
            var watch = Stopwatch.StartNew();
            while (!condition())
            {
                if (watch.Elapsed.TotalSeconds > 5) Assert.Fail("timed out waiting for the client");
                Thread.Sleep(1);
            }
        }

        private sealed class FirstMessage : IOscMessageHandler
        {
            public OscMessage Message;

            public void OnMessage(OscMessage message, ulong timeTag)
            {
                if (Message == null) Message = message;
            }
        }
    }
}
