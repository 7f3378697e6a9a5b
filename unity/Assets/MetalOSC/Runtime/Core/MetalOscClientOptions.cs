using System;

namespace MetalOSC.Core
{
    /// <summary>Settings for <see cref="MetalOscClient"/>.</summary>
    public sealed class MetalOscClientOptions
    {
        /// <summary>Host of the MetalOSC daemon.</summary>
        public string ServerHost = "127.0.0.1";

        /// <summary>UDP port of the daemon (default 9000, protocol/README.md).</summary>
        public int ServerPort = 9000;

        /// <summary>Local UDP port to bind; 0 picks a free one.</summary>
        public int LocalPort;

        /// <summary>"bundle" (timetagged, ahead of time) or "immediate".</summary>
        public string Mode = MetalMessages.ModeBundle;

        /// <summary>
        /// Monotonic local seconds, called from the receive thread too, so it must be thread-safe
        /// (the default is a Stopwatch). Clock sync measures the server against this clock.
        /// </summary>
        public Func<double> LocalClock;

        /// <summary>
        /// The audio clock notes are scheduled on, read only inside <see cref="MetalOscClient.Pump"/>
        /// (in Unity: <c>() => AudioSettings.dspTime</c>). Defaults to <see cref="LocalClock"/>.
        /// </summary>
        public Func<double> DspClock;

        /// <summary>System unix seconds, used to seed the clock offset before the first pong.</summary>
        public Func<double> UnixClock;

        /// <summary>Pings sent right after start, <see cref="BurstIntervalSeconds"/> apart, for a quick first estimate.</summary>
        public int BurstPings = 5;

        /// <summary>Spacing of the start-up burst.</summary>
        public double BurstIntervalSeconds = 0.05;

        /// <summary>Spacing of pings after the burst; they also renew the subscription lease.</summary>
        public double PingIntervalSeconds = 1.0;

        /// <summary>Events kept while nobody pumps; beyond this new events are dropped and counted.</summary>
        public int MaxQueuedEvents = 8192;
    }
}
