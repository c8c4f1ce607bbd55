/*
 * Portico webclient. Plain JavaScript, no build step, nothing fetched from
 * elsewhere. It speaks portico.v1: Evennia's v1.evennia.com websocket
 * format, ["cmdname", [args], {kwargs}] both ways, with the session's
 * resume token in the first message (plugins/websocket/README.md).
 *
 * What the player gets: the game's output with its colours (the server
 * renders it to HTML), an input line with history (up/down), a password
 * field while the server asks for a password (the echo option), the prompt
 * on a line of its own, the connection's state, reconnection with backoff,
 * and the screen size sent to the server as the window changes.
 *
 * Sessions survive reloads: the tab keeps a random id (csessid, 128 bits,
 * in sessionStorage so that every tab has its own) and sends it as the
 * first message of every connection, never in the URL, where proxies and
 * logs would keep it; the server resumes the session it names within its
 * grace period. Each resume, the server sends the tab a new id, which
 * replaces the old one at once: an id is good for one resume. A session
 * that ended is never asked for again: the tab makes a new id for the next
 * one. On unload the page closes with code 4000 ("may come back"); the
 * browser's own 1001 would keep the session for the grace too.
 *
 * A password typed on one line with the name (connect NAME PASSWORD, also
 * create) is shown masked and kept out of the input history.
 */
(function () {
  "use strict";

  var KEY_CSESSID = "portico.csessid";
  var KEY_HISTORY = "portico.history";
  var KEY_SCROLLBACK = "portico.scrollback";
  var MAX_MESSAGES = 2000;     // output blocks kept in the page
  var SAVED_MESSAGES = 300;    // blocks kept across a reload
  var SAVED_CHARS = 400000;    // and at most this much HTML
  var MAX_HISTORY = 200;
  var RETRY_MIN = 1000;
  var RETRY_MAX = 30000;
  var CLOSE_PAGE_UNLOAD = 4000;
  var CLOSE_REPLACED = 4001;
  var SUBPROTOCOL = "portico.v1";
  // A login typed on one line: connect or create (or their short forms), a
  // name (quoted when it has spaces), then the password.
  var LOGIN_LINE = /^(\s*(?:connect|conn|con|co|create|cre|cr)\s+(?:"[^"]*"|\S+)\s+)\S.*$/i;

  var out = document.getElementById("output");
  var promptEl = document.getElementById("prompt");
  var input = document.getElementById("input");
  var statusEl = document.getElementById("status");
  var statusText = document.getElementById("status-text");
  var connBtn = document.getElementById("connbtn");
  var moreBtn = document.getElementById("more");
  var maxInput = parseInt(document.body.getAttribute("data-max-input"), 10) || 0;

  // sessionStorage may be unavailable (privacy modes); the client then
  // works without resuming across reloads.
  var storage = (function () {
    try {
      var s = window.sessionStorage;
      s.setItem("portico.probe", "1");
      s.removeItem("portico.probe");
      return s;
    } catch (e) {
      return null;
    }
  })();

  function load(key) {
    try {
      return storage ? storage.getItem(key) : null;
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    try {
      if (storage) {
        storage.setItem(key, value);
      }
    } catch (e) {
      // Full or refused: losing scrollback or history is harmless.
    }
  }

  function randomHex(bytes) {
    var a = new Uint8Array(bytes);
    window.crypto.getRandomValues(a);
    var s = "";
    for (var i = 0; i < a.length; i++) {
      s += (a[i] < 16 ? "0" : "") + a[i].toString(16);
    }
    return s;
  }

  function browserName() {
    var ua = navigator.userAgent || "";
    var names = ["Edg", "OPR", "Firefox", "HeadlessChrome", "Chrome", "Safari"];
    for (var i = 0; i < names.length; i++) {
      var m = ua.match(new RegExp(names[i] + "/(\\d+)"));
      if (m) {
        return names[i] + " " + m[1];
      }
    }
    return "unknown";
  }

  // The tab's session id: a bearer secret for resuming the session, so it
  // is random, long, and never leaves this tab's storage but to the server,
  // in the first message of a connection.
  var TOKEN = /^[0-9a-f]{32,128}$/;
  var csessid = load(KEY_CSESSID);
  if (!TOKEN.test(csessid || "")) {
    newCsessid();
  }

  // newCsessid starts afresh: the next connection asks for a new session.
  function newCsessid() {
    csessid = randomHex(16);
    save(KEY_CSESSID, csessid);
  }
  var cuid = randomHex(8);
  var browser = browserName();

  var ws = null;
  var retries = 0;
  var retryTimer = null;
  var countdown = null;
  var retryAt = 0;
  var wantClosed = false;
  var passwordMode = false;
  // loggedIn is set by the server's logged_in message, and cleared when a
  // session ends or another takes its place.
  var loggedIn = false;
  var lastSize = "";
  var resizeTimer = null;
  var history = loadHistory();
  var histPos = history.length;
  var draft = "";

  // --- connection --------------------------------------------------------

  function wsURL() {
    var u = new URL("ws", window.location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.hash = "";
    // Only what names the browser: the csessid goes in the first message.
    u.search = "?cuid=" + cuid + "&browser=" + encodeURIComponent(browser);
    return u.toString();
  }

  function isOpen() {
    return ws !== null && ws.readyState === WebSocket.OPEN;
  }

  function connect() {
    clearRetry();
    if (ws) {
      return;
    }
    wantClosed = false;
    if (retries > 0) {
      setState("reconnecting", "Reconnecting…");
    } else {
      setState("connecting", "Connecting…");
    }
    var sock;
    try {
      sock = new WebSocket(wsURL(), [SUBPROTOCOL]);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    var opened = false;
    sock.onopen = function () {
      opened = true;
      if (ws !== sock) {
        return;
      }
      // First, before anything else: the session this tab wants back.
      sock.send(JSON.stringify(["portico_session", [], {"csessid": csessid}]));
      retries = 0;
      setState("connected", "Connected");
      lastSize = "";
      sendSize();
    };
    sock.onmessage = function (ev) {
      if (ws === sock) {
        receive(ev.data);
      }
    };
    sock.onclose = function (ev) {
      if (ws !== sock) {
        return;
      }
      ws = null;
      closed(ev, opened);
    };
  }

  // closed handles the end of a connection; opened tells whether it was
  // ever up (a failed attempt to reconnect is not news).
  function closed(ev, opened) {
    setPassword(false);
    if (ev.code === CLOSE_REPLACED) {
      setState("closed", ev.reason || "This session was opened in another window.");
      system("This session was opened in another window. Press Enter or Reconnect to start a new one here.");
      // This tab lost its session to another one; reconnecting must not
      // take it back, so from now on this tab has a session of its own.
      newCsessid();
      loggedIn = false;
      return;
    }
    if (ev.code === 1000) {
      // The session is over: its id is never used again.
      newCsessid();
      loggedIn = false;
    }
    if (ev.code === 1000 || wantClosed) {
      setState("closed", ev.reason ? "Disconnected: " + ev.reason : "Disconnected.");
      system("Disconnected. Press Enter or Reconnect to connect again.");
      return;
    }
    if (ev.code === 1009) {
      system("That message was too large for the server.");
    }
    if (opened) {
      system("Connection lost; reconnecting…");
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    clearRetry();
    var delay = Math.min(RETRY_MAX, RETRY_MIN * Math.pow(2, retries));
    // Jitter, so that the pages of a restarted server do not all come
    // back in the same instant.
    delay = Math.round(delay * (0.75 + Math.random() * 0.5));
    retries++;
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(connect, delay);
    tick();
    countdown = setInterval(tick, 1000);
  }

  function tick() {
    var s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    setState("reconnecting", "Connection lost. Reconnecting in " + s + " s…");
  }

  function clearRetry() {
    clearTimeout(retryTimer);
    clearInterval(countdown);
    retryTimer = null;
    countdown = null;
  }

  function setState(state, text) {
    statusEl.setAttribute("data-state", state);
    statusText.textContent = text;
    connBtn.textContent = state === "connected" ? "Disconnect" : "Reconnect";
  }

  function send(cmd, args, kwargs) {
    if (!isOpen()) {
      return false;
    }
    ws.send(JSON.stringify([cmd, args || [], kwargs || {}]));
    return true;
  }

  // --- output ------------------------------------------------------------

  function receive(data) {
    if (typeof data !== "string") {
      return;
    }
    var msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!Array.isArray(msg) || typeof msg[0] !== "string") {
      return;
    }
    var args = Array.isArray(msg[1]) ? msg[1] : [];
    var kwargs = msg[2] && typeof msg[2] === "object" ? msg[2] : {};
    var opts = kwargs.options && typeof kwargs.options === "object" ? kwargs.options : {};
    switch (msg[0]) {
      case "text":
        if (typeof args[0] === "string" && args[0] !== "") {
          appendHTML(args[0], "msg");
        }
        if (typeof opts.echo === "boolean") {
          setPassword(!opts.echo);
        }
        break;
      case "prompt":
        promptEl.innerHTML = typeof args[0] === "string" ? args[0] : "";
        prepareLinks(promptEl);
        if (typeof opts.echo === "boolean") {
          setPassword(!opts.echo);
        }
        break;
      case "portico_session":
        // The server renewed the session's resume token after a resume:
        // the one this tab presented no longer works, so the new one is
        // kept at once, for the next reload or reconnect.
        if (typeof kwargs.csessid === "string" && TOKEN.test(kwargs.csessid)) {
          csessid = kwargs.csessid;
          save(KEY_CSESSID, csessid);
        }
        break;
      case "logged_in":
        loggedIn = true;
        break;
      default:
        // Other out-of-band messages (client_options, ...) have nothing
        // to show on this page.
        break;
    }
  }

  function atBottom() {
    return out.scrollHeight - out.scrollTop - out.clientHeight < 8;
  }

  function scrollDown() {
    out.scrollTop = out.scrollHeight;
    moreBtn.hidden = true;
  }

  function appendNode(node) {
    var stick = atBottom();
    out.appendChild(node);
    while (out.childElementCount > MAX_MESSAGES) {
      out.removeChild(out.firstElementChild);
    }
    if (stick) {
      scrollDown();
    } else {
      moreBtn.hidden = false;
    }
  }

  // appendHTML shows server output. The server renders game text to HTML
  // with everything escaped; the page's Content-Security-Policy forbids
  // inline scripts besides.
  function appendHTML(html, cls) {
    var div = document.createElement("div");
    div.className = cls;
    div.innerHTML = html;
    prepareLinks(div);
    appendNode(div);
  }

  function appendText(text, cls) {
    var div = document.createElement("div");
    div.className = cls;
    div.textContent = text;
    appendNode(div);
  }

  function system(text) {
    appendText(text, "msg system");
  }

  // Evennia's clickable commands arrive as
  // <a onclick="Evennia.msg(&quot;text&quot;,[&quot;look&quot;],{});return false;">.
  // Inline handlers cannot run under the page's policy; the command moves
  // to data-cmd and a click on the output sends it.
  var linkPattern = /^Evennia\.msg\("text",\[(.*)\],\{\}\);return false;$/;

  function prepareLinks(el) {
    var links = el.querySelectorAll("a[onclick]");
    for (var i = 0; i < links.length; i++) {
      var a = links[i];
      var m = linkPattern.exec(a.getAttribute("onclick"));
      a.removeAttribute("onclick");
      if (!m) {
        continue;
      }
      try {
        var cmd = JSON.parse(m[1]);
        if (typeof cmd === "string") {
          a.setAttribute("data-cmd", cmd);
        }
      } catch (e) {
        // Not one of ours: leave it inert.
      }
    }
  }

  function onLinkClick(ev) {
    var a = ev.target.closest ? ev.target.closest("a[data-cmd]") : null;
    if (!a) {
      return;
    }
    ev.preventDefault();
    command(a.getAttribute("data-cmd"));
    input.focus();
  }

  // --- input -------------------------------------------------------------

  function setPassword(on) {
    if (on === passwordMode) {
      return;
    }
    passwordMode = on;
    input.value = "";
    input.type = on ? "password" : "text";
    input.setAttribute("autocomplete", on ? "current-password" : "off");
    input.setAttribute("aria-label", on ? "Password" : "Command");
    if (!on) {
      // The prompt asked for the password that was just given.
      promptEl.textContent = "";
    }
    histPos = history.length;
  }

  function loadHistory() {
    try {
      var h = JSON.parse(load(KEY_HISTORY) || "[]");
      return Array.isArray(h) ? h.filter(function (x) { return typeof x === "string"; }) : [];
    } catch (e) {
      return [];
    }
  }

  function remember(text) {
    if (text !== "" && history[history.length - 1] !== text) {
      history.push(text);
      if (history.length > MAX_HISTORY) {
        history.splice(0, history.length - MAX_HISTORY);
      }
      save(KEY_HISTORY, JSON.stringify(history));
    }
    histPos = history.length;
    draft = "";
  }

  // secretLine returns text with its password masked when it is a login
  // with the password on the line (before login only: afterwards such a
  // line is no login), or null when it holds none.
  function secretLine(text) {
    if (loggedIn) {
      return null;
    }
    var m = LOGIN_LINE.exec(text);
    return m ? m[1] + "********" : null;
  }

  // command sends one line the player typed (or clicked), showing it in
  // the output unless it is a password, with a password on a login line
  // masked.
  function command(text) {
    if (!isOpen()) {
      system("Not connected; press Enter again once the connection is back.");
      if (!ws) {
        retries = 0;
        connect();
      }
      return false;
    }
    if (!passwordMode) {
      appendText(secretLine(text) || text, "msg echo");
    }
    send("text", [text], {});
    return true;
  }

  function submit() {
    var text = input.value;
    var length = Array.from(text).length;
    if (maxInput > 0 && length > maxInput) {
      system("That line is " + length + " characters long; the server takes at most " + maxInput + ".");
      return;
    }
    var wasPassword = passwordMode;
    var secret = secretLine(text) !== null;
    if (!command(text)) {
      return;
    }
    input.value = "";
    if (!wasPassword && !secret) {
      remember(text);
    }
    scrollDown();
  }

  function browse(step) {
    if (passwordMode || history.length === 0) {
      return;
    }
    if (histPos === history.length) {
      draft = input.value;
    }
    histPos = Math.max(0, Math.min(history.length, histPos + step));
    input.value = histPos === history.length ? draft : history[histPos];
    var end = input.value.length;
    input.setSelectionRange(end, end);
  }

  input.addEventListener("keydown", function (ev) {
    switch (ev.key) {
      case "Enter":
        ev.preventDefault();
        submit();
        break;
      case "ArrowUp":
        ev.preventDefault();
        browse(-1);
        break;
      case "ArrowDown":
        ev.preventDefault();
        browse(1);
        break;
      case "Escape":
        input.value = "";
        histPos = history.length;
        break;
      case "PageUp":
        ev.preventDefault();
        out.scrollTop -= out.clientHeight * 0.9;
        break;
      case "PageDown":
        ev.preventDefault();
        out.scrollTop += out.clientHeight * 0.9;
        break;
    }
  });

  // Typing anywhere on the page goes to the input line.
  document.addEventListener("keydown", function (ev) {
    if (ev.target === input || ev.ctrlKey || ev.metaKey || ev.altKey || ev.key.length !== 1) {
      return;
    }
    if (ev.target.tagName === "BUTTON") {
      return;
    }
    input.focus();
  });

  out.addEventListener("click", function (ev) {
    onLinkClick(ev);
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed) {
      input.focus();
    }
  });
  promptEl.addEventListener("click", onLinkClick);

  out.addEventListener("scroll", function () {
    if (atBottom()) {
      moreBtn.hidden = true;
    }
  });
  moreBtn.addEventListener("click", function () {
    scrollDown();
    input.focus();
  });

  connBtn.addEventListener("click", function () {
    if (isOpen()) {
      // A clean end: the server closes the session at once.
      wantClosed = true;
      send("websocket_close", [], {});
    } else if (!ws) {
      retries = 0;
      connect();
    }
    input.focus();
  });

  // --- screen size -------------------------------------------------------

  function charSize() {
    var probe = document.createElement("div");
    probe.className = "probe";
    probe.textContent = "MMMMMMMMMM";
    out.appendChild(probe);
    var r = probe.getBoundingClientRect();
    out.removeChild(probe);
    return { w: r.width / 10, h: r.height };
  }

  function screenSize() {
    var c = charSize();
    var cs = window.getComputedStyle(out);
    var w = out.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    var h = out.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
    return {
      cols: Math.max(20, Math.floor(w / (c.w || 8))),
      rows: Math.max(5, Math.floor(h / (c.h || 16)))
    };
  }

  function sendSize() {
    if (!isOpen()) {
      return;
    }
    var s = screenSize();
    var key = s.cols + "x" + s.rows;
    if (key === lastSize) {
      return;
    }
    if (send("client_options", [], { screenwidth: s.cols, screenheight: s.rows })) {
      lastSize = key;
    }
  }

  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(sendSize, 250);
  });

  // --- page life ---------------------------------------------------------

  function saveScrollback() {
    var parts = [];
    var total = 0;
    for (var n = out.lastElementChild; n && parts.length < SAVED_MESSAGES; n = n.previousElementSibling) {
      if (n.className === "probe") {
        continue;
      }
      total += n.outerHTML.length;
      if (total > SAVED_CHARS) {
        break;
      }
      parts.push(n.outerHTML);
    }
    save(KEY_SCROLLBACK, parts.reverse().join(""));
  }

  function restoreScrollback() {
    var saved = load(KEY_SCROLLBACK);
    if (!saved) {
      return;
    }
    // Written by this page from output it had shown, in this tab's own
    // storage.
    out.innerHTML = saved;
    var sep = document.createElement("div");
    sep.className = "msg separator";
    sep.textContent = "— page reloaded —";
    out.appendChild(sep);
    scrollDown();
  }

  window.addEventListener("pagehide", function () {
    saveScrollback();
    clearRetry();
    if (ws) {
      var sock = ws;
      ws = null;
      try {
        // Not 1001: the session is to wait for this tab to come back.
        sock.close(CLOSE_PAGE_UNLOAD, "page unloading");
      } catch (e) {
        // Closing anyway.
      }
    }
  });

  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted && !ws) {
      retries = 0;
      connect();
    }
  });

  window.addEventListener("online", function () {
    if (!ws && retryTimer !== null) {
      retries = 0;
      connect();
    }
  });

  restoreScrollback();
  connect();
  input.focus();
})();
