using System;
using MetalOSC.Core;
using NUnit.Framework;

namespace MetalOSC.Tests
{
    /// <summary>The client's life cycle without a network (the probe covers real UDP).</summary>
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
    }
}
