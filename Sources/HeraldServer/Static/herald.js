/*
 * herald.js: the browser client of Herald (docs/api.md, "Browser client").
 *
 * One file, no build step, no dependencies. Loaded as a classic script
 * (`<script src="/herald.js">`) it defines `globalThis.Herald`; `/herald.mjs` is the same
 * code as an ES module. It subscribes over WebSocket, SSE (read with fetch, so every event
 * name arrives and the token goes in a header) or long-polling, falls back from one to the
 * next, reconnects with back-off, resumes from its cursor, delivers each notification once
 * in seq order per topic, and lets the tabs of one origin share one connection.
 */
(function (global) {
  "use strict";

  /** The transports `auto` tries, in order. */
  const AUTO_ORDER = ["websocket", "sse", "longpoll", "poll"];
  const TRANSPORT_NAMES = ["auto", "websocket", "sse", "longpoll", "poll"];
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const QUIET_MS = 250;
  const ACK_EVERY_MS = 500;
  const PUBLISH_TIMEOUT_MS = 30000;
  const PING_EVERY_MS = 20000;
  const BROKEN_FOR_MS = 300000;
  const OPEN_TIMEOUT_MS = 10000;
  const STABLE_MS = 10000;
  /** The HTTP status of each error code, for errors that come in a WebSocket frame. */
  const STATUS_OF = {
    unauthorized: 401, forbidden: 403, not_found: 404, payload_too_large: 413, batch_too_large: 413,
    rate_limited: 429, internal_error: 500, unavailable: 503,
  };
  const TOPIC = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  /** What a WebSocket publish is rejected with when its connection closes before the answer. */
  const CLOSED = Symbol("closed");

  /** A fresh idempotency key: 128 random bits (crypto.getRandomValues works on plain http too). */
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return "herald.js-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /**
   * An error the server answered (`status`, and `code` and `message` from its error JSON),
   * or `status` 0 when it could not be reached or did not answer in time.
   */
  class HeraldError extends Error {
    /**
     * @param {number} status the HTTP status, 0 when there was no answer
     * @param {string} code the contract's error code (`invalid_topic`, `unavailable`, ...)
     * @param {string} message what went wrong
     * @param {number} [retryAfter] seconds the server asked to wait (`Retry-After`)
     */
    constructor(status, code, message, retryAfter) {
      super(message);
      /** @type {string} */ this.name = "HeraldError";
      /** @type {number} the HTTP status (0: no answer) */ this.status = status;
      /** @type {string} the error code */ this.code = code;
      /** @type {number|undefined} seconds to wait before trying again */ this.retryAfter = retryAfter;
    }
  }

  /** The HeraldError of a response that is not 2xx. */
  async function errorOf(response) {
    const retry = Number(response.headers.get("Retry-After")) || undefined;
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.code === "string") {
        return new HeraldError(response.status, body.error.code, String(body.error.message), retry);
      }
    } catch (_) { /* not the error JSON */ }
    return new HeraldError(response.status, "http_" + response.status, "the server answered " + response.status, retry);
  }

  /** Calls a user's callback; what it throws is logged, not let into the library. */
  function call(callback, value) {
    if (typeof callback !== "function") return;
    try { callback(value); } catch (error) { console.error("herald: a callback threw", error); }
  }

  /** The delay before reconnect attempt `attempt` (0, 1, ...): doubling, with jitter. */
  function backoff(attempt) {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, attempt));
    return cap / 2 + Math.random() * (cap / 2);
  }

  /** Parses `topic:seq,...` into a Map, keeping only `topics`. */
  function parseCursor(text, topics) {
    const positions = new Map();
    for (const part of String(text || "").split(",")) {
      const colon = part.lastIndexOf(":");
      if (colon <= 0) continue;
      const topic = part.slice(0, colon);
      const seq = Number(part.slice(colon + 1));
      if (topics.includes(topic) && Number.isSafeInteger(seq) && seq >= 0) positions.set(topic, seq);
    }
    return positions;
  }

  /**
   * A subscription to topics of one Herald server: `start()` it, get notifications in
   * `onnotification`. See docs/api.md, "Browser client".
   */
  class Subscription {
    /**
     * @param {object} options
     * @param {string[]} options.topics 1 to 100 topics
     * @param {string} [options.url] the server's origin (default: the page's)
     * @param {"auto"|"websocket"|"sse"|"longpoll"|"poll"} [options.transport] default "auto"
     * @param {string} [options.clientId] the client id whose server-side cursor is kept
     * @param {string|function(): (string|Promise<string>)} [options.token] a token, or a
     *   function called before every connection and publish (to refresh it)
     * @param {boolean} [options.persist] keep the cursor in localStorage (default false)
     * @param {string} [options.after] where to start when nothing is stored (`topic:seq,...`)
     * @param {boolean} [options.shared] tabs share one connection (default true)
     * @param {number} [options.wait] long-poll wait in seconds (1 to 60, default 25)
     * @param {number} [options.pollInterval] "poll": milliseconds between polls (default 1000)
     * @param {number} [options.heartbeatTimeout] milliseconds without a byte after which a
     *   stream counts as dead and is reopened (default 45000; the server sends keep-alives)
     */
    constructor(options) {
      const o = options || {};
      if (!Array.isArray(o.topics) || o.topics.length < 1 || o.topics.length > 100) {
        throw new TypeError("herald: topics must be an array of 1 to 100 topic names");
      }
      for (const topic of o.topics) {
        if (typeof topic !== "string" || !TOPIC.test(topic)) throw new TypeError("herald: invalid topic " + JSON.stringify(topic));
      }
      if (new Set(o.topics).size !== o.topics.length) throw new TypeError("herald: a topic is named twice");
      const transport = o.transport || "auto";
      if (!TRANSPORT_NAMES.includes(transport)) throw new TypeError("herald: transport must be one of " + TRANSPORT_NAMES.join(", "));
      /** @type {string} the server's origin */
      this.url = String(o.url || global.location.origin).replace(/\/+$/, "");
      /** @type {string[]} the topics */
      this.topics = o.topics.slice();
      /** @type {string|null} the client id, if one was given */
      this.clientId = o.clientId || null;
      /** @type {function(Object): void|null} called with each notification, once, in order */
      this.onnotification = null;
      /** @type {function(Object): void|null} called with each reset */
      this.onreset = null;
      /** @type {function(Object): void|null} called when the status changes */
      this.onstatus = null;
      /** @type {function(HeraldError): void|null} called with errors retrying cannot get past */
      this.onerror = null;
      /** @type {{state: string, transport: string|null, role: string}} the last status */
      this.status = { state: "closed", transport: null, role: "alone" };

      this._option = transport;
      this._token = o.token || null;
      this._persist = !!o.persist;
      this._shared = o.shared !== false;
      this._wait = Math.min(60, Math.max(1, Number(o.wait) || 25));
      this._pollInterval = Math.max(100, Number(o.pollInterval) || 1000);
      this._heartbeatTimeout = Math.max(1000, Number(o.heartbeatTimeout) || 45000);
      this._key = "herald:" + this.url + "|" + (this.clientId || "") + "|" + this.topics.slice().sort().join(",");
      this._positions = parseCursor(o.after, this.topics);
      if (this._persist) {
        const stored = this._load();
        if (stored) this._positions = stored;
      }
      this._running = false;
      this._generation = 0;    // bumped by every connect and stop: stale callbacks are ignored
      this._connection = null; // {transport, close(), send?(object)}
      this._broken = new Map(); // transport -> skipped until (ms since the epoch)
      this._attempt = 0;
      this._openedAt = 0;
      this._timer = null;
      this._quiet = null;
      this._ackTimer = null;
      this._pending = new Map(); // WebSocket publishes by ref
      this._refs = 0;
      this._channel = null;
      this._release = null;
      this._lockAbort = null;
    }

    /** @type {string} the positions delivered, `topic:seq,...` ("" before any is known) */
    get cursor() {
      return this.topics.filter((t) => this._positions.has(t)).map((t) => t + ":" + this._positions.get(t)).join(",");
    }

    /** @type {string|null} the transport in use (the leader's, in a follower tab) */
    get transport() { return this.status.transport; }

    /** Starts receiving: connects, or joins the tabs that share one connection. */
    start() {
      if (this._running) return;
      this._running = true;
      const canShare = this._shared && global.navigator && global.navigator.locks && typeof global.BroadcastChannel === "function";
      if (canShare) {
        this._join();
      } else {
        this._setStatus({ state: "connecting", transport: null, role: "alone" });
        this._connect();
      }
    }

    /** Stops: closes the connection (acknowledging what was delivered) or leaves the group. */
    stop() {
      if (!this._running) return;
      this._running = false;
      this._generation++;
      this._close();
      clearTimeout(this._timer);
      if (this._release) { this._release(); this._release = null; }
      if (this._lockAbort) { this._lockAbort.abort(); this._lockAbort = null; }
      if (this._channel) { this._channel.close(); this._channel = null; }
      this._setStatus({ state: "closed", transport: null, role: this.status.role });
    }

    /**
     * Publishes `data` to `topic`, over this tab's WebSocket when one is open, else REST.
     * Resolves with the notification once committed; rejects with a HeraldError. A WebSocket
     * publish carries an idempotency key (its own when none is given), so one whose socket
     * closes before the answer is sent again over REST and stored once.
     * @param {string} topic
     * @param {*} data any JSON value
     * @param {{event?: string, ttl?: number, idempotencyKey?: string}} [options]
     * @returns {Promise<Object>} the notification
     */
    async publish(topic, data, options) {
      const o = options || {};
      const connection = this._connection;
      if (connection && connection.transport === "websocket" && connection.ready) {
        // A key of its own when none is given: if the connection closes before the answer
        // (a token that expired, a restart), the same publish goes again over REST, and the
        // key makes it a repeat of one that was stored, never a second notification.
        const keyed = o.idempotencyKey != null ? o : Object.assign({}, o, { idempotencyKey: newKey() });
        try {
          return await this._publishOverWebSocket(connection, topic, data, keyed);
        } catch (error) {
          if (error !== CLOSED) throw error;
          return this._publishOverREST(topic, data, keyed);
        }
      }
      return this._publishOverREST(topic, data, o);
    }

    /** Publishes with a `publish` frame; rejects with CLOSED when the connection closes first. */
    _publishOverWebSocket(connection, topic, data, o) {
      const ref = "p" + (++this._refs);
      const frame = { type: "publish", ref, topic, data, idempotency_key: o.idempotencyKey };
      if (o.event != null) frame.event = o.event;
      if (o.ttl != null) frame.ttl = o.ttl;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this._pending.delete(ref);
          reject(new HeraldError(0, "timeout", "no answer to the publish in time; whether it was stored is not known (publish again with the same idempotencyKey)"));
        }, PUBLISH_TIMEOUT_MS);
        this._pending.set(ref, { resolve, reject, timer });
        connection.send(frame);
      });
    }

    /** Publishes with `POST /v1/topics/{topic}/notifications`. */
    async _publishOverREST(topic, data, o) {
      const headers = { "Content-Type": "application/json" };
      const token = await this._currentToken();
      if (token) headers.Authorization = "Bearer " + token;
      if (o.idempotencyKey != null) headers["Idempotency-Key"] = o.idempotencyKey;
      const body = { data };
      if (o.event != null) body.event = o.event;
      if (o.ttl != null) body.ttl = o.ttl;
      let response;
      try {
        response = await fetch(this.url + "/v1/topics/" + encodeURIComponent(topic) + "/notifications", {
          method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
        });
      } catch (error) {
        throw new HeraldError(0, "unreachable", "the server could not be reached: " + error.message);
      }
      if (!response.ok) throw await errorOf(response);
      return response.json();
    }

    // MARK: - Delivery: once, in order, per topic

    /** Delivers `n` unless its seq is not past its topic's position; true if delivered. */
    _notification(n) {
      if (!n || !this.topics.includes(n.topic) || !Number.isSafeInteger(n.seq)) return false;
      const position = this._positions.get(n.topic);
      if (position !== undefined && n.seq <= position) return false;
      this._positions.set(n.topic, n.seq);
      this._changed();
      call(this.onnotification, n);
      return true;
    }

    /** Applies a reset: the topic's position becomes `resumed_after`. */
    _reset(r) {
      if (!r || !this.topics.includes(r.topic)) return false;
      const position = this._positions.get(r.topic);
      // A replay moves back on purpose; other resets only ever move forward.
      if (r.reason !== "replay" && position !== undefined && r.resumed_after <= position) return false;
      this._positions.set(r.topic, r.resumed_after);
      this._changed();
      call(this.onreset, { topic: r.topic, requested_after: r.requested_after, resumed_after: r.resumed_after, reason: r.reason });
      return true;
    }

    /** Takes positions the server (or the group's leader) reports for topics with none. */
    _adopt(positions) {
      let changed = false;
      for (const [topic, seq] of positions) {
        if (!this._positions.has(topic) && this.topics.includes(topic)) { this._positions.set(topic, seq); changed = true; }
      }
      if (changed) {
        this._changed();
        this._post({ type: "positions", positions: Array.from(this._positions), status: this.status });
      }
    }

    /** Drops the positions of `topics` (all when none is named), here and in the group. */
    _forget(topics) {
      const dropped = topics.length > 0 ? topics : this.topics;
      for (const topic of dropped) this._positions.delete(topic);
      if (this._persist) this._store();
      this._post({ type: "forget", topics: dropped });
    }

    _changed() {
      if (this._persist) this._store();
      if (this._connection && this._connection.transport === "websocket" && this._acknowledges() && !this._ackTimer) {
        this._ackTimer = setTimeout(() => { this._ackTimer = null; this._ack(); }, ACK_EVERY_MS);
      }
    }

    _acknowledges() { return !!(this.clientId || this._token); }

    _ack() {
      const connection = this._connection;
      if (connection && connection.transport === "websocket" && connection.ready && this.cursor) {
        connection.send({ type: "ack", cursor: this.cursor });
      }
    }

    _load() {
      try {
        const text = global.localStorage.getItem(this._key);
        if (!text) return null;
        const stored = JSON.parse(text);
        return parseCursor(Object.keys(stored).map((t) => t + ":" + stored[t]).join(","), this.topics);
      } catch (_) { return null; }
    }

    _store() {
      try { global.localStorage.setItem(this._key, JSON.stringify(Object.fromEntries(this._positions))); } catch (_) { /* full, or not allowed */ }
    }

    _setStatus(status) {
      const s = this.status;
      if (s.state === status.state && s.transport === status.transport && s.role === status.role) return;
      this.status = status;
      call(this.onstatus, { state: status.state, transport: status.transport, role: status.role });
      if (status.role === "leader") this._post({ type: "status", status });
    }

    async _currentToken() {
      const token = this._token;
      return typeof token === "function" ? await token() : token;
    }

    // MARK: - Connecting, falling back, reconnecting

    /** Starts a round: the transports to try, in order, from the first. */
    _connect() {
      const now = Date.now();
      const order = this._option === "auto" ? AUTO_ORDER.filter((t) => !(this._broken.get(t) > now)) : [this._option];
      this._tryTransport(order, 0, []);
    }

    async _tryTransport(order, index, failed) {
      const generation = ++this._generation;
      const transport = order[index];
      this._setStatus({ state: "connecting", transport, role: this.status.role });
      let token = null;
      try {
        token = await this._currentToken();
      } catch (error) {
        console.error("herald: the token function failed", error);
      }
      if (generation !== this._generation) return;
      let opened = false;
      const events = {
        open: () => {
          if (generation !== this._generation) return;
          opened = true;
          // What failed to open while this one opened is broken here (a proxy, --transports):
          // skipped for a while (not for good: the server may just have been restarting).
          if (this._option === "auto") for (const t of failed) this._broken.set(t, Date.now() + BROKEN_FOR_MS);
          this._openedAt = Date.now();
          if (this._positions.size > 0) {
            this._setStatus({ state: "catching-up", transport, role: this.status.role });
            this._armQuiet(transport);
          } else {
            this._setStatus({ state: "live", transport, role: this.status.role });
          }
        },
        notification: (n) => {
          if (generation !== this._generation) return;
          if (this._notification(n)) this._post({ type: "notification", notification: n });
          if (this.status.state === "catching-up") this._armQuiet(transport);
        },
        reset: (r) => {
          if (generation === this._generation && this._reset(r)) this._post({ type: "reset", reset: r });
        },
        cursor: (text) => {
          if (generation === this._generation) this._adopt(parseCursor(text, this.topics));
        },
        close: (error) => {
          if (generation !== this._generation) return;
          this._generation++;
          this._close();
          if (this._running) this._closed(error, opened, order, index, failed);
        },
      };
      const cursor = this.cursor;
      if (transport === "websocket") this._connection = this._openWebSocket(token, cursor, events);
      else if (transport === "sse") this._connection = this._openSSE(token, cursor, events);
      else this._connection = this._openPoll(transport, token, events);
    }

    /** After a connection ended (or failed to open): fall back, or wait and reconnect. */
    _closed(error, opened, order, index, failed) {
      // Back-off starts over only after a connection that lasted: one that opens and fails
      // at once (again and again) waits longer each time.
      if (opened && Date.now() - this._openedAt >= STABLE_MS) this._attempt = 0;
      if (error && error.code === "invalid_cursor") {
        // A stored position past the topic's last seq (a restored database): that topic
        // starts again from the client's server-side cursor, else now.
        this._forget(this.topics.filter((t) => (" " + error.message).includes(" " + t + ":")));
        this._timer = setTimeout(() => { if (this._running && this._connection === null) this._connect(); }, 0);
        call(this.onerror, error);
        return;
      }
      const refused = error && (error.status === 404 || (error.status === 400 && error.code === "invalid_parameter"));
      if (error && ((!refused && (error.status === 400 || error.status === 403)) || (refused && this._option !== "auto"))) {
        this.stop();
        call(this.onerror, error);
        return;
      }
      // A token that is a string cannot get better by itself: say so (and keep trying).
      if (error && error.status === 401 && typeof this._token !== "function") {
        call(this.onerror, error);
        if (!this._running) return; // stopped by onerror
      }
      const transient = error && (error.status === 401 || error.status === 429 || error.status === 503 || error.status === 500);
      if (!opened && !transient && index + 1 < order.length) {
        this._tryTransport(order, index + 1, failed.concat([order[index]]));
        return;
      }
      this._setStatus({ state: "offline", transport: null, role: this.status.role });
      const wait = Math.max(backoff(this._attempt++), (error && error.retryAfter ? error.retryAfter * 1000 : 0));
      this._timer = setTimeout(() => { if (this._running && this._connection === null) this._connect(); }, wait);
    }

    _close() {
      const connection = this._connection;
      this._connection = null;
      clearTimeout(this._quiet);
      clearTimeout(this._ackTimer);
      this._ackTimer = null;
      if (connection) connection.close();
      for (const [ref, pending] of this._pending) {
        clearTimeout(pending.timer);
        pending.reject(CLOSED); // publish() sends it again over REST with its key
        this._pending.delete(ref);
      }
    }

    /** Catching up ends, as far as a client can tell, when nothing came for a moment. */
    _armQuiet(transport) {
      clearTimeout(this._quiet);
      this._quiet = setTimeout(() => {
        if (this.status.state === "catching-up") this._setStatus({ state: "live", transport, role: this.status.role });
      }, QUIET_MS);
    }

    /** A timer that closes a connection from which nothing came for the heartbeat timeout. */
    _watchdog(onDead) {
      let timer = null;
      const timeout = this._heartbeatTimeout;
      return {
        feed() { clearTimeout(timer); timer = setTimeout(onDead, timeout); },
        stop() { clearTimeout(timer); },
      };
    }

    // MARK: - Transports

    _query(parameters) {
      const query = new URLSearchParams();
      query.set("topics", this.topics.join(","));
      if (this.clientId) query.set("client", this.clientId);
      for (const name of Object.keys(parameters)) if (parameters[name] != null && parameters[name] !== "") query.set(name, parameters[name]);
      return query.toString();
    }

    _openWebSocket(token, cursor, events) {
      const url = new URL(this.url + "/v1/ws?" + this._query({ after: cursor, access_token: token }));
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      let socket;
      try { socket = new WebSocket(url.toString()); } catch (_) { setTimeout(() => events.close(null), 0); return { transport: "websocket", close() {}, send() {} }; }
      let closed = false;
      let subscribed = false;
      const acknowledges = this._acknowledges();
      const connection = {
        transport: "websocket",
        ready: false,
        send(frame) { if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame)); },
        close: () => {
          if (closed) return;
          closed = true;
          watchdog.stop();
          clearInterval(ping);
          clearTimeout(opening);
          // What was delivered is acknowledged before the socket closes.
          if (acknowledges && this.cursor) connection.send({ type: "ack", cursor: this.cursor });
          socket.close(1000);
        },
      };
      const watchdog = this._watchdog(() => events.close(null));
      const ping = setInterval(() => connection.send({ type: "ping" }), PING_EVERY_MS);
      // An upgrade left unanswered (a proxy holding it) gives way like a refused one.
      const opening = setTimeout(() => { if (!connection.ready) socket.close(); }, OPEN_TIMEOUT_MS);
      socket.onopen = () => { clearTimeout(opening); connection.ready = true; watchdog.feed(); events.open(); };
      socket.onmessage = (message) => {
        watchdog.feed();
        let m;
        try { m = JSON.parse(message.data); } catch (_) { return; }
        switch (m.type) {
          case "subscribed": subscribed = true; events.cursor(m.cursor); break;
          case "notification": events.notification(m.notification); break;
          case "reset": events.reset(m); break;
          case "published":
          case "error": {
            const pending = m.ref != null ? this._pending.get(m.ref) : undefined;
            if (pending) {
              this._pending.delete(m.ref);
              clearTimeout(pending.timer);
              if (m.type === "published") pending.resolve(m.notification);
              else pending.reject(new HeraldError(STATUS_OF[m.code] || 400, m.code, m.message));
            } else if (m.type === "error" && !subscribed) {
              // The subscription was refused after the upgrade (a position past the last seq).
              events.close(new HeraldError(STATUS_OF[m.code] || 400, m.code, m.message));
            } else if (m.type === "error") {
              console.error("herald: the server said", m.code, m.message);
            }
            break;
          }
          default: break;
        }
      };
      socket.onclose = (event) => {
        watchdog.stop();
        clearInterval(ping);
        clearTimeout(opening);
        if (closed) return;
        closed = true;
        if (!connection.ready) {
          // A browser is not told why an upgrade failed; a plain GET makes the same checks
          // and says (426: they pass, so something on the way broke the upgrade).
          const headers = token ? { Authorization: "Bearer " + token } : {};
          fetch(this.url + "/v1/ws?" + this._query({ after: cursor }), { headers, cache: "no-store", signal: AbortSignal.timeout(5000) })
            .then(async (response) => events.close(response.status === 426 ? null : await errorOf(response)), () => events.close(null));
          return;
        }
        // 1008: the token expired; the next attempt asks for a fresh one.
        events.close(event.code === 1008 ? new HeraldError(401, "unauthorized", "the token expired") : null);
      };
      return connection;
    }

    _openSSE(token, cursor, events) {
      const abort = new AbortController();
      const headers = { Accept: "text/event-stream" };
      if (token) headers.Authorization = "Bearer " + token;
      if (cursor) headers["Last-Event-ID"] = cursor;
      const watchdog = this._watchdog(() => abort.abort());
      const connection = { transport: "sse", ready: false, close() { watchdog.stop(); abort.abort(); } };
      watchdog.feed();
      (async () => {
        let response;
        try {
          response = await fetch(this.url + "/v1/sse?" + this._query({}), { headers, signal: abort.signal, cache: "no-store" });
        } catch (_) {
          return events.close(null);
        }
        if (!response.ok) return events.close(await errorOf(response));
        connection.ready = true;
        events.open();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        let block = { id: null, event: "message", data: [] };
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            watchdog.feed();
            buffer += value;
            let newline;
            while ((newline = buffer.indexOf("\n")) >= 0) {
              const line = buffer.slice(0, newline).replace(/\r$/, "");
              buffer = buffer.slice(newline + 1);
              if (line === "") {
                this._sseBlock(block, events);
                block = { id: null, event: "message", data: [] };
              } else if (line[0] !== ":") {
                const colon = line.indexOf(":");
                const field = colon < 0 ? line : line.slice(0, colon);
                const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
                if (field === "id") block.id = value;
                else if (field === "event") block.event = value;
                else if (field === "data") block.data.push(value);
              }
            }
          }
        } catch (_) { /* aborted, or the connection broke */ }
        events.close(null);
      })();
      return connection;
    }

    _sseBlock(block, events) {
      if (block.data.length === 0) {
        if (block.id) events.cursor(block.id); // the stream's starting cursor
        return;
      }
      let value;
      try { value = JSON.parse(block.data.join("\n")); } catch (_) { return; }
      if (block.event === "herald.reset") events.reset(value);
      else events.notification(value);
      if (block.id) events.cursor(block.id);
    }

    _openPoll(transport, token, events) {
      let abort = null;
      let stopped = false;
      let timer = null;
      const connection = { transport, ready: false, close() { stopped = true; clearTimeout(timer); if (abort) abort.abort(); } };
      const limit = 100;
      const poll = async () => {
        if (stopped) return;
        // The first long-poll waits 1 ms: it answers at once (the connection counts as open,
        // and the positions of topics started now are known), and is still a long-poll for a
        // server that serves only those.
        const wait = transport === "longpoll" ? (connection.ready ? this._wait : 0.001) : 0;
        abort = new AbortController();
        const deadline = setTimeout(() => abort.abort(), (wait + 15) * 1000);
        const headers = {};
        if (token) headers.Authorization = "Bearer " + token;
        let response;
        let body;
        try {
          response = await fetch(this.url + "/v1/poll?" + this._query({ after: this.cursor, wait, limit }), { headers, signal: abort.signal, cache: "no-store" });
          if (response.ok) body = await response.json();
        } catch (_) {
          clearTimeout(deadline);
          return events.close(null);
        }
        clearTimeout(deadline);
        if (stopped) return;
        if (!response.ok) return events.close(await errorOf(response));
        if (!connection.ready) { connection.ready = true; events.open(); }
        // A reset goes before the first notification after it (a page may hold notifications
        // on both sides of a gap), the rest after the page.
        const resets = (body.resets || []).slice();
        for (const n of body.notifications || []) {
          for (let i = 0; i < resets.length; i++) {
            if (resets[i].topic === n.topic && resets[i].resumed_after < n.seq) { events.reset(resets[i]); resets.splice(i--, 1); }
          }
          events.notification(n);
        }
        for (const reset of resets) events.reset(reset);
        events.cursor(body.cursor);
        if (stopped) return;
        const full = (body.notifications || []).length >= limit;
        timer = setTimeout(poll, full || transport === "longpoll" ? 0 : this._pollInterval);
      };
      poll();
      return connection;
    }

    // MARK: - Tabs sharing one connection

    /** Joins the group of tabs with the same url, client and topics; waits to lead it. */
    _join() {
      this._channel = new BroadcastChannel(this._key);
      this._channel.onmessage = (message) => this._groupMessage(message.data);
      this._setStatus({ state: "connecting", transport: null, role: "follower" });
      this._lockAbort = new AbortController();
      const held = new Promise((resolve) => { this._release = resolve; });
      const channel = this._channel;
      global.navigator.locks.request(this._key, { signal: this._lockAbort.signal }, () => {
        // Stopped (and perhaps started again, which joined anew) before the lock came.
        if (!this._running || this._channel !== channel) return undefined;
        this._lockAbort = null;
        this._setStatus({ state: "connecting", transport: null, role: "leader" });
        this._connect();
        return held;
      }).catch(() => { /* aborted by stop() */ });
      this._channel.postMessage({ type: "hello" });
    }

    _post(message) {
      if (this._channel && this.status.role === "leader") {
        try { this._channel.postMessage(message); } catch (_) { /* closed */ }
      }
    }

    _groupMessage(message) {
      if (!message || !this._running) return;
      const leading = this.status.role === "leader";
      switch (message.type) {
        case "hello":
          if (leading) this._post({ type: "positions", positions: Array.from(this._positions), status: this.status });
          break;
        case "positions":
          if (!leading) {
            // A tab that joins starts where the group is.
            for (const [topic, seq] of message.positions) {
              const own = this._positions.get(topic);
              if (this.topics.includes(topic) && (own === undefined || seq > own)) this._positions.set(topic, seq);
            }
            this._changed();
            this._follow(message.status);
          }
          break;
        // (Also as a new leader: a late post of the old one is applied, or dropped as a repeat.)
        case "notification":
          this._notification(message.notification);
          break;
        case "reset":
          this._reset(message.reset);
          break;
        case "forget":
          if (!leading) for (const topic of message.topics) this._positions.delete(topic);
          break;
        case "status":
          if (!leading) this._follow(message.status);
          break;
        default: break;
      }
    }

    _follow(status) {
      if (status) this._setStatus({ state: status.state, transport: status.transport, role: "follower" });
    }
  }

  /** `Herald`: the browser client. */
  global.Herald = { Subscription, HeraldError };
})(globalThis);
