// Live parts of the pages, over the panel's websockets: a task's log and the bottom task panel.
"use strict";

const FINAL = new Set(["ok", "error", "cancelled"]);

function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

const setBadge = (badge, status) => PanelFormat.setBadge(badge, "task", status);

// A task's log: the page shows the lines so far; the socket sends the rest from there, then the status.
// After a dropped connection it asks again from the last line it has, so nothing is lost or doubled.
function watchTaskLog(pre) {
  let last = Number(pre.dataset.lastLine || 0);
  let finished = false;
  const badge = document.getElementById("task-status");
  const exit = document.getElementById("task-exit");
  const connect = () => {
    const ws = new WebSocket(socketUrl(`${pre.dataset.ws}?start=${last}`));
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "line" && message.n > last) {
        if (last === 0) pre.textContent = "";
        pre.textContent += `${message.t}\n`;
        last = message.n;
        pre.scrollTop = pre.scrollHeight;
      } else if (message.type === "status") {
        setBadge(badge, message.task.status);
        exit.textContent = message.task.exitstatus || "—";
        if (FINAL.has(message.task.status)) {
          finished = true;
          document.querySelectorAll(".while-active").forEach((node) => node.remove());
        }
      }
    };
    ws.onclose = () => { if (!finished) setTimeout(connect, 2000); };
  };
  connect();
}

// The bottom "Tasks" panel: the latest tasks, updated as the server pushes changes.
function watchTaskList(table) {
  const body = table.querySelector("tbody");
  const rows = new Map();
  const render = (task) => {
    let row = rows.get(task.upid);
    if (!row) {
      row = document.createElement("tr");
      rows.set(task.upid, row);
      body.prepend(row);
      while (body.children.length > Number(table.dataset.limit || 10)) {
        const old = body.lastElementChild;
        rows.forEach((value, key) => { if (value === old) rows.delete(key); });
        old.remove();
      }
    }
    const cells = [
      new Date(task.starttime * 1000).toLocaleString(),
      task.endtime ? new Date(task.endtime * 1000).toLocaleString() : "—",
      task.node, task.user,
    ];
    row.replaceChildren(...cells.map((text) => { const td = document.createElement("td"); td.textContent = text; return td; }));
    const link = document.createElement("a");
    link.href = task.url;
    link.textContent = `${task.type} ${task.id || task.node}`;
    const badge = document.createElement("span");
    setBadge(badge, task.status);
    const linkCell = document.createElement("td");
    linkCell.append(link);
    const statusCell = document.createElement("td");
    statusCell.append(badge);
    if (task.status === "error" && task.exitstatus) statusCell.append(` ${task.exitstatus}`);
    row.append(linkCell, statusCell);
  };
  const connect = () => {
    const ws = new WebSocket(socketUrl(table.dataset.ws));
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "tasks") {
        body.replaceChildren();
        rows.clear();
        message.tasks.slice(0, Number(table.dataset.limit || 10)).reverse().forEach(render);
      } else if (message.type === "task" && !message.task.parent) {
        render(message.task);
      }
    };
    ws.onclose = () => setTimeout(connect, 3000);
  };
  connect();
}

document.querySelectorAll("pre.log[data-ws]").forEach(watchTaskLog);
document.querySelectorAll("table[data-ws]").forEach(watchTaskList);
