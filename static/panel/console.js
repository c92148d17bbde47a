// A terminal (xterm.js) on a console socket (consoles/consumers.py). Binary frames are the terminal's bytes,
// both ways; text frames are JSON control messages to the server: {"resize": [columns, rows]} whenever the
// terminal's size changes, which follows the size of its box (the window, a tab being shown).
// A box marked data-lazy (a console in a tab not shown yet) waits for PanelConsole.open(box): every opening
// starts a shell and writes an audit row, which a page view should not.
"use strict";

const PanelConsole = (() => {
  const OPEN = 1;
  // What a close code says (consoles/consumers.py: 4000 + the HTTP status of a refusal).
  const ENDINGS = {
    1000: ["session ended", "muted"],
    4403: ["forbidden", "error"],
    4404: ["not found", "error"],
    4409: ["not running", "warn"],
    4503: ["unavailable", "error"],
  };

  function socketUrl(path) {
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  }

  function setStatus(box, text, badge, title) {
    const status = box.querySelector("[data-console-status]");
    status.textContent = text;
    status.className = `badge ${badge}`;
    status.title = title || "";
    box.dataset.state = text;
  }

  function open(box) {
    if (box.dataset.state) return; // opened already
    const terminal = new Terminal({ cursorBlink: true, scrollback: 5000, fontSize: 14,
                                    fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace" });
    const fit = new FitAddon.FitAddon();
    terminal.loadAddon(fit);
    const screen = box.querySelector("[data-console-screen]");
    terminal.open(screen);
    setStatus(box, "connecting", "muted");

    const ws = new WebSocket(socketUrl(box.dataset.socket));
    ws.binaryType = "arraybuffer";
    const encoder = new TextEncoder();
    const send = (data) => { if (ws.readyState === OPEN) ws.send(data); };
    const sendSize = () => {
      box.dataset.size = `${terminal.cols}x${terminal.rows}`;
      send(JSON.stringify({ resize: [terminal.cols, terminal.rows] }));
    };
    const refit = () => { if (screen.offsetWidth && screen.offsetHeight) fit.fit(); };

    ws.onopen = () => {
      setStatus(box, "connected", "ok");
      refit();
      sendSize();
      terminal.focus();
    };
    let error = "";  // why the server is about to close, when it says
    ws.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) terminal.write(new Uint8Array(event.data));
      else error = JSON.parse(event.data).error || "";
    };
    ws.onclose = (event) => {
      const [text, badge] = ENDINGS[event.code] || ["disconnected", "error"];
      const reason = error || event.reason;
      setStatus(box, text, badge, reason);
      terminal.write(`\r\n\x1b[2m[${reason || text}]\x1b[0m\r\n`);
      terminal.options.disableStdin = true;
      terminal.options.cursorBlink = false;
    };
    terminal.onData((data) => send(encoder.encode(data)));
    // Bytes that are no text (some mouse reports): one byte per character, as xterm.js gives them.
    terminal.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    terminal.onResize(sendSize);
    new ResizeObserver(refit).observe(screen);
    refit();
  }

  document.querySelectorAll("[data-console]:not([data-lazy])").forEach(open);
  return { open };
})();
