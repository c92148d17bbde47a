// A VM's display in noVNC, on its display socket (consoles/consumers.py): RFB in binary frames, the
// "binary" subprotocol. The picture is scaled to its box, which follows the window. A box marked data-lazy
// (a display in a tab not shown yet) waits for PanelDisplay.open(box).
function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

function setStatus(box, text, badge) {
  const status = box.querySelector("[data-console-status]");
  status.textContent = text;
  status.className = `badge ${badge}`;
  box.dataset.state = text;
}

async function openDisplay(box) {
  const { default: RFB } = await import(box.dataset.rfb);
  const keys = box.querySelector("[data-vnc-keys]");
  const rfb = new RFB(box.querySelector("[data-vnc-screen]"), socketUrl(box.dataset.socket),
                      { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => {
    setStatus(box, "connected", "ok");
    keys.disabled = false;
    rfb.focus();
  });
  rfb.addEventListener("disconnect", (event) => {
    // noVNC does not tell the close code: the page said before whether the VM runs and may be shown.
    if (event.detail.clean) setStatus(box, "disconnected", "muted");
    else setStatus(box, "connection lost", "error");
    keys.disabled = true;
  });
  keys.addEventListener("click", () => rfb.sendCtrlAltDel());
}

function open(box) {
  if (box.dataset.state) return; // opened already
  setStatus(box, "connecting", "muted");
  openDisplay(box).catch((error) => {
    setStatus(box, "failed", "error");
    throw error;
  });
}

window.PanelDisplay = { open };
document.querySelectorAll("[data-vnc]:not([data-lazy])").forEach(open);
