using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading;

namespace MetalOSC.Core
{
    /// <summary>
    /// The MetalOSC UDP client: subscribes to the daemon, sends control messages, and receives note
    /// bundles on a background thread. Decoded events are queued and raised on the thread that calls
    /// <see cref="Pump"/> (Unity's main thread), because Unity's API may only be used there; notes are
    /// mapped to the DSP clock at that point, with the latest clock estimate. Timed events that arrive
    /// before the first clock-sync round trip are held until it (<see cref="HeldUntilSync"/>).
    /// </summary>
    public sealed class MetalOscClient : IDisposable
    {
        /// <summary>First argument of the client's own clock-sync pings, so pongs can be told apart.</summary>
        public const string SyncPingTag = "metalosc-sync";

        private readonly MetalOscClientOptions _options;
        private readonly Func<double> _localClock;
        private readonly Func<double> _dspClock;
        private readonly ConcurrentQueue<MetalEvent> _queue = new ConcurrentQueue<MetalEvent>();
        private readonly OscWriter _writer = new OscWriter();
        private readonly object _sendLock = new object();
        private readonly DspClockMapper _dspMapper = new DspClockMapper();
        // Timed events that arrived before the first measured round trip; touched only by Pump.
        private readonly Queue<MetalEvent> _heldUntilSync = new Queue<MetalEvent>();
        private long _heldEvents;
        private UdpClient _udp;
        private IPEndPoint _server;
        private Thread _thread;
        private volatile bool _running;
        private bool _disposed;
        private int _queued;
        private long _packetsReceived;
        private long _malformedPackets;
        private long _droppedEvents;
        private long _unknownMessages;
        private int _pingsSent;
        private double _nextPingLocal;

        public MetalOscClient(MetalOscClientOptions options)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            _options = options;
            if (options.LocalClock != null)
            {
                _localClock = options.LocalClock;
            }
            else
            {
                var stopwatch = Stopwatch.StartNew();
                _localClock = () => stopwatch.Elapsed.TotalSeconds;
            }
            _dspClock = options.DspClock ?? _localClock;
            Clock = new ClockSync(_localClock);
        }

        /// <summary>Server note scheduled on the DSP clock.</summary>
        public event Action<ScheduledNote> NoteScheduled;

        /// <summary>A beat tick.</summary>
        public event Action<BeatEvent> BeatReceived;

        /// <summary>A new phrase began.</summary>
        public event Action<PhraseEvent> PhraseStarted;

        /// <summary>The server's full state (after any change, or on request).</summary>
        public event Action<StateEvent> StateReceived;

        /// <summary>A section of the music starts (its time on the local DSP clock is set).</summary>
        public event Action<SectionEvent> SectionStarted;

        /// <summary>The server rejected one of our messages.</summary>
        public event Action<ErrorEvent> ErrorReceived;

        /// <summary>Any pong, including the client's own clock-sync pongs.</summary>
        public event Action<PongEvent> PongReceived;

        /// <summary>A datagram could not be decoded (the string says why).</summary>
        public event Action<string> DecodeFailed;

        /// <summary>The server-clock estimate.</summary>
        public ClockSync Clock { get; }

        /// <summary>The local-to-DSP clock mapping, updated on every <see cref="Pump"/>.</summary>
        public DspClockMapper DspMapper
        {
            get { return _dspMapper; }
        }

        /// <summary>The bound local endpoint (after <see cref="Start"/>).</summary>
        public IPEndPoint LocalEndPoint
        {
            get { return _udp == null ? null : (IPEndPoint)_udp.Client.LocalEndPoint; }
        }

        public long PacketsReceived { get { return Interlocked.Read(ref _packetsReceived); } }

        public long MalformedPackets { get { return Interlocked.Read(ref _malformedPackets); } }

        public long DroppedEvents { get { return Interlocked.Read(ref _droppedEvents); } }

        public long UnknownMessages { get { return Interlocked.Read(ref _unknownMessages); } }

        /// <summary>
        /// Timed events (notes, beats, phrase and section starts with a bundle time) that arrived
        /// before the first clock-sync round trip and were held until it, so far.
        /// </summary>
        public long HeldUntilSync { get { return Interlocked.Read(ref _heldEvents); } }

        /// <summary>
        /// Binds the socket, starts the receive thread and subscribes. Settings are checked before
        /// anything is opened; if a later step fails, what was opened is closed again.
        /// </summary>
        public void Start()
        {
            if (_disposed) throw new ObjectDisposedException(nameof(MetalOscClient));
            if (_udp != null) throw new InvalidOperationException("already started");
            if (_options.ServerPort < 1 || _options.ServerPort > 65535)
            {
                throw new ArgumentOutOfRangeException("ServerPort", "must be 1..65535, got " + _options.ServerPort);
            }
            OscMessage subscribe = MetalMessages.Subscribe(null, _options.Mode);
            _server = new IPEndPoint(ResolveIPv4(_options.ServerHost), _options.ServerPort);
            _udp = new UdpClient(new IPEndPoint(IPAddress.Any, _options.LocalPort));
            try
            {
                Func<double> unixClock = _options.UnixClock ?? (Func<double>)UnixNow;
                Clock.Seed(unixClock() - _localClock());
                _running = true;
                _thread = new Thread(ReceiveLoop) { IsBackground = true, Name = "MetalOSC receive" };
                _thread.Start();
                Send(subscribe);
                _nextPingLocal = _localClock();
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>
        /// Raises the queued events on the calling thread, at most <paramref name="maxEvents"/>, after
        /// updating the DSP mapping and sending any due clock-sync ping. Call once per frame.
        /// Returns the number of events raised.
        /// </summary>
        public int Pump(int maxEvents = int.MaxValue)
        {
            double local = _localClock();
            double dspNow = _dspClock();
            _dspMapper.Observe(local, dspNow);
            if (_udp != null && local >= _nextPingLocal)
            {
                SendSyncPing();
                _pingsSent++;
                _nextPingLocal = local + (_pingsSent < _options.BurstPings
                    ? _options.BurstIntervalSeconds : _options.PingIntervalSeconds);
            }
            int raised = 0;
            // A bundle time means nothing until the server clock is measured: the seed is only a
            // guess (another machine's clock may be seconds off, and an unseeded one is 0), so
            // timed events wait for the first round trip, which the start-up burst makes quick.
            bool synced = Clock.HasEstimate;
            while (synced && raised < maxEvents && _heldUntilSync.Count > 0)
            {
                MetalEvent held = _heldUntilSync.Dequeue();
                raised++;
                Dispatch(ref held, dspNow);
            }
            MetalEvent ev;
            while (raised < maxEvents && _queue.TryDequeue(out ev))
            {
                Interlocked.Decrement(ref _queued);
                if (!synced && IsTimed(ref ev))
                {
                    if (_heldUntilSync.Count >= _options.MaxQueuedEvents)
                    {
                        Interlocked.Increment(ref _droppedEvents);
                        continue;
                    }
                    _heldUntilSync.Enqueue(ev);
                    Interlocked.Increment(ref _heldEvents);
                    continue;
                }
                raised++;
                Dispatch(ref ev, dspNow);
            }
            return raised;
        }

        /// <summary>Sends one message to the server (thread-safe).</summary>
        public void Send(OscMessage message)
        {
            if (_udp == null) throw new InvalidOperationException("call Start first");
            lock (_sendLock)
            {
                int length = _writer.Write(message);
                _udp.Send(_writer.Buffer, length, _server);
            }
        }

        /// <summary><c>/metal/tension</c>: 0..1; <paramref name="transition"/> ("phrase", "bar", "section"; null = the server's default) says where it lands.</summary>
        public void SetTension(float value, string transition = null) { Send(MetalMessages.Tension(value, transition)); }

        public void SetTempo(float bpm) { Send(MetalMessages.Tempo(bpm)); }

        /// <summary><c>/metal/temperature</c>: 0.05..2, landing like a tension change.</summary>
        public void SetTemperature(float value, string transition = null) { Send(MetalMessages.Temperature(value, transition)); }

        /// <summary><c>/metal/transition</c>: where tension and temperature changes land by default.</summary>
        public void SetTransition(string when) { Send(MetalMessages.Transition(when)); }

        /// <summary><c>/metal/key</c>: the tonal centre (natural minor) from the next section on, e.g. "D".</summary>
        public void SetKey(string key) { Send(MetalMessages.Key(key)); }

        /// <summary><c>/metal/fill</c>: a drum fill at the next phrase (a stinger).</summary>
        public void Fill() { Send(MetalMessages.Fill()); }

        /// <summary><c>/metal/section</c>: a new section at the next phrase, optionally labelled for the section event.</summary>
        public void StartSection(string label = "") { Send(MetalMessages.Section(label)); }

        public void SetMuted(Instrument instrument, bool muted) { Send(MetalMessages.Mute(instrument, muted)); }

        public void Interpolate(string scene, int bars = 8) { Send(MetalMessages.Interpolate(scene, bars)); }

        public void SaveScene(string name) { Send(MetalMessages.SceneSave(name)); }

        public void Play() { Send(MetalMessages.Play()); }

        public void Stop() { Send(MetalMessages.Stop()); }

        public void RequestState() { Send(MetalMessages.State()); }

        /// <summary>Sends a clock-sync ping now (Pump also sends them on its schedule).</summary>
        public void SendSyncPing()
        {
            int seq = Clock.BeginPing();
            Send(MetalMessages.Ping(OscArgument.Str(SyncPingTag), OscArgument.Int(seq)));
        }

        /// <summary>Unsubscribes (best effort), closes the socket and stops the receive thread.</summary>
        public void Dispose()
        {
            _disposed = true;
            if (_udp == null) return;
            try
            {
                Send(MetalMessages.Unsubscribe());
            }
            catch (SocketException)
            {
                // The server may be gone; closing must still succeed.
            }
            _running = false;
            _udp.Close();
            if (_thread != null && Thread.CurrentThread != _thread) _thread.Join(1000);
            _udp = null;
        }

        private static bool IsTimed(ref MetalEvent ev)
        {
            if (ev.TimeTag == OscTimeTag.Immediately) return false;
            return ev.Kind == MetalEventKind.Note || ev.Kind == MetalEventKind.Beat
                || ev.Kind == MetalEventKind.Phrase || ev.Kind == MetalEventKind.Section;
        }

        private void Dispatch(ref MetalEvent ev, double dspNow)
        {
            switch (ev.Kind)
            {
                case MetalEventKind.Note:
                    var note = NoteScheduling.Schedule(ev.Note, ev.TimeTag, Clock, _dspMapper, dspNow);
                    NoteScheduled?.Invoke(note);
                    break;
                case MetalEventKind.Beat:
                    ev.Beat.LocalDspTime = NoteScheduling.ToDspTime(ev.TimeTag, Clock, _dspMapper, dspNow);
                    BeatReceived?.Invoke(ev.Beat);
                    break;
                case MetalEventKind.Phrase:
                    ev.Phrase.LocalDspTime = NoteScheduling.ToDspTime(ev.TimeTag, Clock, _dspMapper, dspNow);
                    PhraseStarted?.Invoke(ev.Phrase);
                    break;
                case MetalEventKind.State:
                    StateReceived?.Invoke(ev.State);
                    break;
                case MetalEventKind.Section:
                    ev.Section.LocalDspTime = NoteScheduling.ToDspTime(ev.TimeTag, Clock, _dspMapper, dspNow);
                    SectionStarted?.Invoke(ev.Section);
                    break;
                case MetalEventKind.Error:
                    ErrorReceived?.Invoke(ev.Error);
                    break;
                case MetalEventKind.Pong:
                    PongReceived?.Invoke(ev.Pong);
                    break;
                case MetalEventKind.DecodeFailure:
                    DecodeFailed?.Invoke(ev.Problem);
                    break;
            }
        }

        private void ReceiveLoop()
        {
            var buffer = new byte[65536];
            var reader = new OscReader(MetalAddresses.KnownStrings);
            reader.RegisterKnownString(SyncPingTag);
            var handler = new ReceiveHandler(this);
            while (_running)
            {
                int length;
                try
                {
                    length = _udp.Client.Receive(buffer, 0, buffer.Length, SocketFlags.None);
                }
                catch (SocketException e)
                {
                    // Windows reports an earlier send to a closed port as ConnectionReset on receive.
                    if (_running && e.SocketErrorCode == SocketError.ConnectionReset) continue;
                    if (_running && e.SocketErrorCode == SocketError.MessageSize)
                    {
                        Fail("datagram larger than " + buffer.Length + " bytes");
                        continue;
                    }
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                handler.ReceivedLocal = _localClock();
                try
                {
                    reader.Read(buffer, 0, length, handler);
                }
                catch (OscFormatException e)
                {
                    Fail(e.Message);
                }
                catch (MetalProtocolException e)
                {
                    Fail(e.Message);
                }
                // counted once its events are queued (and a pong has reached the clock), so a
                // caller that waits on the count and then pumps sees them
                Interlocked.Increment(ref _packetsReceived);
            }
        }

        private void Fail(string problem)
        {
            Interlocked.Increment(ref _malformedPackets);
            Enqueue(new MetalEvent { Kind = MetalEventKind.DecodeFailure, Problem = problem });
        }

        private void Enqueue(MetalEvent ev)
        {
            if (Interlocked.Increment(ref _queued) > _options.MaxQueuedEvents)
            {
                Interlocked.Decrement(ref _queued);
                Interlocked.Increment(ref _droppedEvents);
                return;
            }
            _queue.Enqueue(ev);
        }

        private void OnMessage(OscMessage message, ulong timeTag, double receivedLocal)
        {
            MetalEvent ev;
            if (!MetalEventParser.TryParse(message, timeTag, out ev))
            {
                Interlocked.Increment(ref _unknownMessages);
                return;
            }
            if (ev.Kind == MetalEventKind.Pong)
            {
                ev.ReceivedLocalTime = receivedLocal;
                OscArgument[] args = ev.Pong.Arguments;
                if (args.Length == 2 && args[0].Type == OscArgType.String
                    && args[0].StringValue == SyncPingTag && args[1].Type == OscArgType.Int32)
                {
                    Clock.CompletePing((int)args[1].IntValue, ev.Pong.ServerTime, receivedLocal);
                }
            }
            Enqueue(ev);
        }

        private static double UnixNow()
        {
            return (DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
        }

        private static IPAddress ResolveIPv4(string host)
        {
            IPAddress address;
            if (IPAddress.TryParse(host, out address)) return address;
            foreach (var candidate in Dns.GetHostAddresses(host))
            {
                if (candidate.AddressFamily == AddressFamily.InterNetwork) return candidate;
            }
            throw new ArgumentException("no IPv4 address for host '" + host + "'");
        }

        /// <summary>Adapter so the receive loop hands messages to the client without a closure per packet.</summary>
        private sealed class ReceiveHandler : IOscMessageHandler
        {
            private readonly MetalOscClient _client;
            public double ReceivedLocal;

            public ReceiveHandler(MetalOscClient client)
            {
                _client = client;
            }

            public void OnMessage(OscMessage message, ulong timeTag)
            {
                _client.OnMessage(message, timeTag, ReceivedLocal);
            }
        }
    }
}
