// Live parts of the pages, over the panel's websockets: a task's log, the task dock, the task cards of pages,
// the progress of bulk tasks, and a task's log in a window (double click in the dock).
"use strict";

const FINAL = new Set(["ok", "error", "cancelled"]);

function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

const PanelLive = (function () {
  const {date} = PanelFormat;
  const setBadge = (badge, status) => PanelFormat.setBadge(badge, "task", status);
  const logUrl = (upid) => `/ws/tasks/${encodeURIComponent(upid)}/log/`;

  // A bulk task logs "progress N/M" after each guest: its bar follows those lines.
  const PROGRESS = /^progress (\d+)\/(\d+)$/;
  function setProgress(bar, done, total) {
    const fraction = total ? done / total : 0;
    bar.querySelector("span").style.width = `${(100 * fraction).toFixed(1)}%`;
    bar.querySelector("em").textContent = `${done} of ${total}`;
    bar.setAttribute("aria-valuenow", String(done));
    bar.setAttribute("aria-valuemax", String(total));
    bar.title = `${done} of ${total} guests`;
  }

  // A task's log: the lines after `last`, then live lines, then the final status. After a dropped connection
  // it asks again from the last line it has, so nothing is lost or doubled. on.line(text), on.status(task).
  function followLog(upid, last, on) {
    let finished = false;
    let socket = null;
    const connect = () => {
      socket = new WebSocket(socketUrl(`${logUrl(upid)}?start=${last}`));
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "line" && message.n > last) {
          last = message.n;
          on.line?.(message.t, message.n);
        } else if (message.type === "status") {
          if (FINAL.has(message.task.status)) finished = true;
          on.status?.(message.task);
        }
      };
      socket.onclose = () => { if (!finished) setTimeout(connect, 2000); };
    };
    connect();
    return {close: () => { finished = true; socket?.close(); }};
  }

  // The task page: its log, status, exit status, start and end, and its progress bar, all live.
  function watchTaskPage(pre) {
    const badge = document.getElementById("task-status");
    const exit = document.getElementById("task-exit");
    const bar = document.querySelector("[data-task-progress] .bar");
    let first = Number(pre.dataset.lastLine || 0) === 0;
    followLog(pre.dataset.upid, Number(pre.dataset.lastLine || 0), {
      line(text) {
        if (first) { pre.textContent = ""; first = false; }
        pre.textContent += `${text}\n`;
        pre.scrollTop = pre.scrollHeight;
        const progress = PROGRESS.exec(text);
        if (progress && bar) setProgress(bar, Number(progress[1]), Number(progress[2]));
      },
      status(task) {
        setBadge(badge, task.status);
        exit.textContent = task.exitstatus || "—";
        const ended = document.getElementById("task-ended");
        if (ended) ended.replaceChildren(task.endtime ? date(task.endtime) : "—");
        if (FINAL.has(task.status)) {
          document.querySelectorAll(".while-active").forEach((node) => node.remove());
          resyncSteps();
        }
      },
    });
  }

  // The steps of a task that has ended, as the server has them: a step that began and ended while the page
  // was loading sent its news before the page listened.
  async function resyncSteps() {
    const table = document.querySelector('table[data-task-table][data-scope^="children:"]');
    if (!table) return;
    const response = await fetch(location.href, {credentials: "same-origin"});
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html")
      .querySelector('table[data-task-table][data-scope^="children:"] tbody');
    const entry = tables.find((e) => e.table === table);
    if (!fresh || !entry) return;
    entry.body.replaceChildren(...fresh.children);
    PanelFormat.localDates(entry.body);
    entry.rows.clear();
    entry.body.querySelectorAll("tr[data-upid]").forEach((row) => entry.rows.set(row.dataset.upid, row));
  }

  // -- task rows: the dock, and the task cards of pages (templates/includes/task_table.html) ---------------

  function rowCells(task) {
    const cells = [date(task.starttime), task.endtime ? date(task.endtime) : "—", task.node, task.user]
      .map((text) => { const td = document.createElement("td"); td.textContent = text; return td; });
    const link = document.createElement("a");
    link.href = task.url;
    link.textContent = task.description || `${task.type} ${task.id || task.node}`;
    const linkCell = document.createElement("td");
    linkCell.append(link);
    const statusCell = document.createElement("td");
    const badge = document.createElement("span");
    setBadge(badge, task.status);
    statusCell.append(badge);
    if (task.status === "error" && task.exitstatus) statusCell.append(` ${task.exitstatus}`);
    return [...cells, linkCell, statusCell];
  }

  // Which rows a table shows: data-scope "node:NAME", "guest:VMID", "children:UPID", else every top-level task.
  function inScope(table, task) {
    const scope = table.dataset.scope || "";
    const [kind, value] = [scope.slice(0, scope.indexOf(":")), scope.slice(scope.indexOf(":") + 1)];
    if (kind === "children") return task.parent === value;
    if (task.parent) return false;
    if (kind === "node") return task.node === value;
    if (kind === "guest") return String(task.vmid) === value;
    return true;
  }

  const tables = [];  // {table, body, rows: Map upid -> row, limit, dock}
  function register(table, dock) {
    const body = table.querySelector("tbody");
    const rows = new Map();
    body.querySelectorAll("tr[data-upid]").forEach((row) => rows.set(row.dataset.upid, row));
    tables.push({table, body, rows, dock, limit: Number(table.dataset.limit || 15)});
  }

  // A task is newer than a table's rows when it started after its first (newest) row: older ones are not its.
  function newer(entry, task) {
    const first = entry.body.querySelector("tr[data-upid]");
    const shown = first ? Number(first.dataset.starttime || 0) : 0;
    return !first || task.starttime >= shown;
  }

  function render(entry, task, isNew) {
    let row = entry.rows.get(task.upid);
    if (!row) {
      if (!isNew) return;
      row = document.createElement("tr");
      row.dataset.upid = task.upid;
      entry.rows.set(task.upid, row);
      entry.body.querySelector("tr.empty-row, tr > td.loading")?.closest("tr").remove();
      entry.body.prepend(row);
      while (entry.body.children.length > entry.limit) {
        const old = entry.body.lastElementChild;
        entry.rows.delete(old.dataset.upid);
        old.remove();
      }
    }
    row.replaceChildren(...rowCells(task));
    row.dataset.status = task.status;
    row.dataset.starttime = String(task.starttime);
    if (entry.dock) row.tabIndex = 0;
  }

  function onTasks(message) {
    if (message.type === "tasks") {  // the latest tasks: the dock starts from them
      // The cards of the page take what changed since it was drawn (or since the socket dropped).
      for (const entry of tables.filter((e) => !e.dock)) {
        [...message.tasks].reverse().forEach((task) => render(entry, task, inScope(entry.table, task)
                                                              && !entry.rows.has(task.upid) && newer(entry, task)));
      }
      for (const entry of tables.filter((e) => e.dock)) {
        entry.body.replaceChildren();
        entry.rows.clear();
        message.tasks.slice(0, entry.limit).reverse().forEach((task) => render(entry, task, true));
        if (!message.tasks.length) {
          const row = document.createElement("tr");
          row.className = "empty-row";
          row.innerHTML = '<td colspan="6" class="empty">No tasks yet.</td>';
          entry.body.append(row);
        }
      }
      return;
    }
    if (message.type !== "task") return;
    for (const entry of tables) {
      if (entry.dock ? !message.task.parent : inScope(entry.table, message.task)) {
        render(entry, message.task, true);
      } else {
        render(entry, message.task, false);  // a row already shown changed
      }
    }
  }

  function connectTasks() {
    const ws = new WebSocket(socketUrl("/ws/tasks/"));
    ws.onmessage = (event) => onTasks(JSON.parse(event.data));
    ws.onclose = () => setTimeout(connectTasks, 3000);
  }

  // -- a task's log in a window of its own ------------------------------------------------------------------

  function openLogWindow(upid, title, href) {
    const dialog = document.createElement("dialog");
    dialog.className = "log-window";
    dialog.setAttribute("aria-label", `Task log: ${title}`);
    const head = document.createElement("header");
    const heading = document.createElement("h2");
    heading.textContent = title;
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "…";
    const page = document.createElement("a");
    page.href = href;
    page.textContent = "Open the task's page";
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    head.append(heading, badge, page, close);
    const pre = document.createElement("pre");
    pre.className = "log";
    pre.textContent = "";
    dialog.append(head, pre);
    document.body.append(dialog);
    const follow = followLog(upid, 0, {
      line(text) { pre.textContent += `${text}\n`; pre.scrollTop = pre.scrollHeight; },
      status(task) { setBadge(badge, task.status); },
    });
    const done = () => { follow.close(); dialog.remove(); };
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", done);
    dialog.showModal();
    close.focus();
  }

  // -- start --------------------------------------------------------------------------------------------------

  document.querySelectorAll("pre.log[data-upid][data-live]").forEach(watchTaskPage);
  const dockTable = document.querySelector("[data-task-dock] table");
  if (dockTable) {
    register(dockTable, true);
    const pick = (event) => event.target.closest("tr[data-upid]");
    dockTable.addEventListener("dblclick", (event) => {
      const row = pick(event);
      if (!row) return;
      event.preventDefault();
      const link = row.querySelector("a");
      openLogWindow(row.dataset.upid, link?.textContent || row.dataset.upid, link?.href || "#");
    });
    dockTable.addEventListener("keydown", (event) => {
      const row = pick(event);
      if (row && event.key === "Enter" && event.shiftKey) {
        event.preventDefault();
        const link = row.querySelector("a");
        openLogWindow(row.dataset.upid, link?.textContent || row.dataset.upid, link?.href || "#");
      }
    });
  }
  document.querySelectorAll("table[data-task-table]").forEach((table) => register(table, false));
  if (tables.length) connectTasks();

  // Bars of bulk tasks still running (data-task-progress on the task page and in bulk results).
  document.querySelectorAll("[data-task-progress][data-upid]").forEach((box) => {
    if (box.dataset.fedByPage !== undefined) return;  // the task page's own log feeds it
    const bar = box.querySelector(".bar");
    const status = box.querySelector(".badge");
    followLog(box.dataset.upid, 0, {
      line(text) {
        const progress = PROGRESS.exec(text);
        if (progress) setProgress(bar, Number(progress[1]), Number(progress[2]));
      },
      status(task) { if (status) setBadge(status, task.status); },
    });
  });

  return {followLog, openLogWindow};
})();
