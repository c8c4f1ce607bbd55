/*
 * A test page of cmd/host (TestEvenniaWebclientProtocol) that speaks to
 * the websocket plugin what Evennia's own webclient speaks (its evennia.js
 * and webclient_gui.js, read, not copied): the v1.evennia.com format,
 * ["cmdname", [args], {kwargs}] both ways, the session's csessid, a page
 * id and the browser in the URL's query, an incrementing cmdid in the
 * kwargs of every message it sends (a reply carrying a cmdid goes to the
 * callback given with it), the webclient options and the typing
 * indicator's set-up asked for once logged_in arrives, prompts in a prompt
 * bar of their own. It is served by the test from a port of its own, as
 * Evennia serves its page (4001) apart from its websocket (4002); the
 * websocket's address comes in the page's query (?ws=...).
 *
 * The test drives it through window.evtest: msg(cmdname, args, kwargs,
 * callback) sends, sent lists every message sent, got holds the last of
 * each out-of-band message received, closes the close codes seen, and
 * connect() connects again after a close.
 */
(function () {
  "use strict";

  var wsurl = new URLSearchParams(window.location.search).get("ws");
  // Evennia's page is given its csessid by the server (the browser's
  // Django session key), the same for every load of the page; this page
  // keeps one per tab.
  var csessid = window.sessionStorage.getItem("evtest.csessid");
  if (!csessid) {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    csessid = Array.from(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    window.sessionStorage.setItem("evtest.csessid", csessid);
  }
  // A page id per load, as Evennia's cuid.
  var cuid = "page" + Date.now().toString(36);
  var browser = "chrome";

  var output = document.getElementById("output");
  var promptBar = document.getElementById("prompt");
  var input = document.getElementById("input");
  var statusEl = document.getElementById("status");

  var ws = null;
  var cmdid = 0;
  var callbacks = {};
  var state = { sent: [], got: {}, closes: [] };

  function send(cmdname, args, kwargs, callback) {
    kwargs = kwargs || {};
    kwargs.cmdid = cmdid++;
    if (typeof callback === "function") {
      callbacks[kwargs.cmdid] = callback;
    }
    var data = [cmdname, args || [], kwargs];
    state.sent.push(data);
    ws.send(JSON.stringify(data));
  }

  function show(html) {
    var div = document.createElement("div");
    div.innerHTML = html; // the server sends text as escaped HTML
    output.appendChild(div);
  }

  var handlers = {
    text: function (args) {
      if (typeof args[0] === "string" && args[0] !== "") {
        show(args[0]);
      }
    },
    prompt: function (args) {
      promptBar.innerHTML = typeof args[0] === "string" ? args[0] : "";
    },
    logged_in: function (args, kwargs) {
      state.got.logged_in = kwargs;
      // What Evennia's options and typing plugins do on logged_in.
      send("webclient_options", [], {});
      send("is_typing_setup", [], {});
    },
    is_typing: function (args, kwargs) {
      state.got["is_typing_" + kwargs.type] = kwargs.payload;
    }
  };

  function emit(cmdname, args, kwargs) {
    if (kwargs.cmdid !== undefined && callbacks[kwargs.cmdid]) {
      var cb = callbacks[kwargs.cmdid];
      delete callbacks[kwargs.cmdid];
      cb(args, kwargs);
      return;
    }
    if (handlers[cmdname]) {
      handlers[cmdname](args, kwargs);
      return;
    }
    state.got[cmdname] = kwargs;
  }

  function connect() {
    statusEl.dataset.state = "connecting";
    ws = new WebSocket(wsurl + "?" + csessid + "&" + cuid + "&" + browser, ["v1.evennia.com"]);
    ws.onopen = function () {
      statusEl.dataset.state = "connected";
      send("client_options", [], { screenwidth: 90, screenheight: 30 });
    };
    ws.onmessage = function (ev) {
      var data = JSON.parse(ev.data);
      emit(data[0], data[1], data[2] || {});
    };
    ws.onclose = function (ev) {
      state.closes.push(ev.code);
      statusEl.dataset.state = "closed";
    };
  }

  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      ev.preventDefault();
      send("text", [input.value], {});
      input.value = "";
    }
  });

  window.evtest = { msg: send, sent: state.sent, got: state.got, closes: state.closes, connect: connect };
  connect();
})();
