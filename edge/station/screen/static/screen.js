// The packer's screen: applies the station's snapshots (server-sent events) to the page and
// sends the packer's actions. Plain JS, no build step; text from the station is only ever set
// with textContent, since scanned barcodes end up on this page.
"use strict";

(function () {
  const RENDERS_KEPT = 1000;
  const renders = [];
  window.__screenRenders = renders;
  let current = null;

  const $ = (selector) => document.querySelector(selector);
  const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  const LIGHTS = {
    off: ["○", "Off"],
    pick: ["●", "Pick"],
    wrong_slot: ["✗", "Wrong slot"],
    error: ["!", "Error"],
    done: ["✓", "Done"],
    shortage: ["▲", "Short"],
    offline: ["◌", "Offline"],
    identify: ["◎", "Identify"],
  };

  const LINE_STATUS = {
    to_pick: ["●", "To pick"],
    picked: ["✓", "Picked"],
    short: ["▲", "Short"],
    return: ["↩", "Put back"],
  };

  // kind -> [icon, words, severity]
  const ALERTS = {
    wrong_slot: ["✗", "Wrong slot", "error"],
    wrong_item: ["✗", "Wrong item", "error"],
    unknown_barcode: ["✗", "Unknown barcode", "error"],
    over_pick: ["!", "Too many", "error"],
    scan_first: ["!", "Scan the item first", "error"],
    busy: ["!", "Order already open", "error"],
    not_allowed: ["!", "Not possible now", "error"],
    printer: ["✗", "Printer problem", "error"],
    storage: ["✗", "Storage problem", "error"],
    return_items: ["↩", "Put items back", "attention"],
    shortage_armed: ["▲", "Shortage", "attention"],
    finalise: ["▲", "Order is short", "attention"],
    cancelled: ["✗", "Order cancelled", "attention"],
  };

  // outcome -> [icon, words]; a refused scan shows its alert's words instead (ALERTS)
  const SCAN_OUTCOMES = {
    checking: ["…", "Checking"],
    accepted: ["✓", "Accepted"],
    refused: ["✗", "Refused"],
    not_recorded: ["✗", "Not recorded (outbox full)"],
  };

  const PHASES = {
    idle: ["○", "Idle: scan an order"],
    picking: ["●", "Picking"],
    finalising: ["▲", "Short: finalise or abort"],
    labelling: ["↻", "Printing label"],
  };

  const COUNTS = [
    ["orders_completed", "Orders done"],
    ["picks", "Lines picked"],
    ["shorts", "Shorts"],
    ["wrong_scans", "Wrong scans"],
    ["wrong_slots", "Wrong slots"],
    ["reprints", "Reprints"],
    ["voids", "Voids"],
    ["aborts", "Aborts"],
  ];

  function chip(testId, state, icon, text) {
    const node = byTestId(testId);
    node.dataset.state = state;
    node.querySelector(".icon").textContent = icon;
    node.querySelector(".text").textContent = text;
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${Math.round(seconds / 3600)} h`;
  }

  function renderHeader(s) {
    byTestId("station-id").textContent = `Station ${s.station_id}`;
    byTestId("version").textContent = `version ${s.version}`;
    const [phaseIcon, phaseText] = PHASES[s.phase] || ["?", s.phase];
    chip("phase", s.phase, phaseIcon, phaseText);
    const link = s.link;
    if (link.online) chip("link-state", "online", "✓", "Online");
    else if (link.connected) chip("link-state", "connecting", "…", "Connecting");
    else chip("link-state", "offline", "✗", "Offline");
    const p = s.printer;
    const printerIcon = p.state === "ok" ? "✓" : p.state === "unknown" ? "?" : "✗";
    chip("printer-state", p.state, printerIcon, p.headline);
    byTestId("printer-state").title = p.detail || "";
  }

  function renderBanners(s) {
    const offline = byTestId("offline-banner");
    const link = s.link;
    offline.hidden = link.online;
    if (!link.online) {
      const n = link.outbox_depth;
      const oldest = n > 0 ? ` (oldest ${age(link.outbox_oldest_age_s)} ago)` : "";
      offline.querySelector(".text").textContent =
        `Offline: ${n} event${n === 1 ? "" : "s"} waiting to send${oldest}. ` +
        "Keep packing: nothing is lost.";
    }
    const storage = byTestId("storage-alert");
    storage.hidden = !s.storage_alert;
    storage.querySelector(".text").textContent = s.storage_alert ? `Storage: ${s.storage_alert}` : "";
  }

  function renderAlert(s) {
    const node = byTestId("alert");
    const alert = s.alert;
    if (!alert) {
      node.dataset.kind = "none";
      node.dataset.severity = "none";
      node.querySelector(".icon").textContent = "✓";
      node.querySelector(".alert-kind").textContent = "No alert";
      node.querySelector(".alert-message").textContent = "";
      node.removeAttribute("data-slot");
      return;
    }
    const [icon, words, severity] = ALERTS[alert.kind] || ["!", alert.kind, "error"];
    node.dataset.kind = alert.kind;
    node.dataset.severity = severity;
    if (alert.slot) node.dataset.slot = alert.slot;
    else node.removeAttribute("data-slot");
    node.querySelector(".icon").textContent = icon;
    node.querySelector(".alert-kind").textContent = alert.slot ? `${words} (slot ${alert.slot}):` : `${words}:`;
    node.querySelector(".alert-message").textContent = alert.message;
  }

  function renderOrder(s) {
    const order = s.order;
    const id = byTestId("order-id");
    const meta = byTestId("order-meta");
    const body = $("table.lines tbody");
    if (!order) {
      id.textContent = "No order open: scan an order or tote";
      id.classList.add("empty");
      meta.textContent = "";
      body.replaceChildren();
      return;
    }
    id.textContent = `Order ${order.order_id}`;
    id.classList.remove("empty");
    const parts = [];
    if (order.tote) parts.push(`Tote ${order.tote}`);
    parts.push(`${order.units_picked} unit${order.units_picked === 1 ? "" : "s"} picked`);
    if (order.partial) parts.push("▲ partial shipment");
    if (order.shortage_armed) parts.push(`▲ shortage (${order.shortage_armed}): press the short slot`);
    meta.textContent = parts.join(" · ");
    body.replaceChildren(
      ...order.lines.map((line) => {
        const [icon, words] = LINE_STATUS[line.status] || ["?", line.status];
        let status = `${icon} ${words}`;
        if (line.status === "return") status += ` ${line.to_return}`;
        else if (line.status === "to_pick" && line.scanned > 0) status = `✓ Scanned ${line.scanned}: press slot`;
        return el("tr", { "data-testid": "line", "data-slot": line.slot, "data-status": line.status }, [
          el("td", { class: "slot", text: line.slot }),
          el("td", { text: line.sku }),
          el("td", { class: "num", "data-field": "required", text: String(line.required) }),
          el("td", { class: "num", "data-field": "picked", text: String(line.picked) }),
          el("td", { class: "num", "data-field": "remaining", text: String(line.remaining) }),
          el("td", { class: "status", "data-field": "status", text: status }),
        ]);
      })
    );
  }

  function renderLights(s) {
    byTestId("lights").replaceChildren(
      ...s.lights.map((light) => {
        const [icon, words] = LIGHTS[light.pattern] || ["?", light.pattern];
        const label = `Slot ${light.slot}: ${words}${light.quantity ? `, take ${light.quantity}` : ""}`;
        return el("li", {
          class: "light", "data-testid": "light", "data-slot": light.slot,
          "data-pattern": light.pattern, "aria-label": label,
        }, [
          el("span", { class: "slot", text: light.slot }),
          el("span", { class: "what", text: `${icon} ${words}` }),
          el("span", { class: "qty", text: light.quantity ? `× ${light.quantity}` : "" }),
        ]);
      })
    );
  }

  function renderScanAndLabel(s) {
    const scan = s.last_scan;
    const scanNode = byTestId("last-scan");
    scanNode.dataset.scanSeq = String(s.scan_seq);
    if (scan) {
      const at = new Date(scan.at).toLocaleTimeString();
      const [icon, words] = (scan.outcome === "refused" && ALERTS[scan.refusal]) ||
        SCAN_OUTCOMES[scan.outcome] || ["?", scan.outcome];
      scanNode.textContent = `${icon} ${words}: ${scan.text}, ${scan.detail} (${at})`;
      scanNode.dataset.readAs = scan.read_as;
      scanNode.dataset.outcome = scan.outcome;
    } else {
      scanNode.textContent = "No scan yet";
      scanNode.dataset.outcome = "none";
    }
    const label = s.last_label;
    byTestId("last-label").textContent = label
      ? `${label.voided ? "✗ Voided" : "✓ Printed"}: ${label.label_id} (order ${label.order_id})`
      : "No label yet";
  }

  function renderCounts(s) {
    byTestId("counts").replaceChildren(
      ...COUNTS.map(([key, words]) =>
        el("div", { "data-count": key }, [el("dt", { text: words }), el("dd", { text: String(s.counts[key] ?? 0) })])
      )
    );
  }

  function apply(snapshot) {
    if (current && snapshot.revision <= current.revision) return; // an older or repeated picture
    current = snapshot;
    renderHeader(snapshot);
    renderBanners(snapshot);
    renderAlert(snapshot);
    renderOrder(snapshot);
    renderLights(snapshot);
    renderScanAndLabel(snapshot);
    renderCounts(snapshot);
    requestAnimationFrame(() => {
      renders.push({
        revision: snapshot.revision,
        scanSeq: snapshot.scan_seq,
        renderedAt: performance.timeOrigin + performance.now(),
      });
      if (renders.length > RENDERS_KEPT) renders.splice(0, renders.length - RENDERS_KEPT);
      document.body.dataset.revision = String(snapshot.revision);
    });
  }

  // --- live updates ---------------------------------------------------------------------------

  function connect() {
    const source = new EventSource("/api/stream");
    source.addEventListener("open", () => {
      byTestId("stream-lost").hidden = true;
      current = null; // a restarted station counts revisions from zero again
    });
    source.addEventListener("snapshot", (event) => apply(JSON.parse(event.data)));
    source.addEventListener("error", () => {
      byTestId("stream-lost").hidden = false;
    });
  }

  // --- actions --------------------------------------------------------------------------------

  const ACTION_WORDS = {
    shortage: "Shortage recorded",
    finalise: "Finalised",
    reprint: "Reprint sent",
    void: "Label voided",
    abort: "Order aborted",
  };

  function bodyOf(form) {
    const body = {};
    for (const [key, value] of new FormData(form).entries()) {
      const text = String(value).trim();
      if (text) body[key] = text;
    }
    return body;
  }

  function problem(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    return "the station refused the action";
  }

  async function send(form) {
    const action = form.dataset.action;
    const result = byTestId("action-result");
    const button = form.querySelector("button");
    button.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(`/api/actions/${action}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(bodyOf(form)),
      });
      const payload = await response.json().catch(() => ({}));
      if (response.ok) {
        result.dataset.outcome = "done";
        result.textContent = `✓ ${ACTION_WORDS[action] || action}`;
        apply(payload);
      } else {
        result.dataset.outcome = "error";
        result.textContent = `✗ ${action} refused: ${problem(payload.detail)}`;
      }
    } catch (error) {
      result.dataset.outcome = "error";
      result.textContent = `✗ Could not reach the station: ${error}`;
    } finally {
      button.removeAttribute("aria-busy");
      refreshAudit();
    }
  }

  async function refreshAudit() {
    try {
      const response = await fetch("/api/audit?limit=8");
      if (!response.ok) return;
      const rows = await response.json();
      byTestId("audit").replaceChildren(
        ...rows.map((row) => {
          const icon = row.outcome === "done" ? "✓" : "✗";
          const at = new Date(row.at).toLocaleTimeString();
          const order = row.order_id ? ` order ${row.order_id}` : "";
          return el("li", { "data-outcome": row.outcome, text: `${icon} ${at} ${row.action}${order}: ${row.detail}` });
        })
      );
    } catch (error) {
      // The stream banner already says the station is unreachable.
    }
  }

  // --- confirming what cannot be undone --------------------------------------------------------

  const CONFIRM_SECONDS = 15;

  // What a confirmed action would act on now, in words; null when there is nothing (the station
  // then refuses it with its own reason, so there is nothing to confirm).
  const TARGETS = {
    void: (s) => (s && s.last_label && !s.last_label.voided
      ? `label ${s.last_label.label_id} of order ${s.last_label.order_id}` : null),
    abort: (s) => (s && s.order ? `order ${s.order.order_id}` : null),
  };

  const NOT_CONFIRMED = { void: "Nothing voided", abort: "Nothing aborted" };

  function reasonWords(form) {
    const choice = form.querySelector("select");
    return choice ? choice.selectedOptions[0].textContent : "";
  }

  // A modal dialog in the page (a kiosk browser may suppress window.confirm): focus moves into it
  // on "Keep", Escape or "Keep" cancels, and it cancels itself after CONFIRM_SECONDS. The target
  // is checked again on confirm, so a label printed or an order opened meanwhile is not the one
  // acted on by surprise.
  function confirmThen(form) {
    const action = form.dataset.action;
    const target = TARGETS[action](current);
    if (target === null) {
      send(form);
      return;
    }
    const dialog = byTestId(`confirm-${action}-dialog`);
    const result = byTestId("action-result");
    dialog.querySelector(".confirm-what").textContent = `${target}, reason: ${reasonWords(form)}.`;
    for (const field of dialog.querySelectorAll("input")) field.value = "";
    dialog.returnValue = "";
    dialog.showModal();
    const timer = setTimeout(() => dialog.close("timeout"), CONFIRM_SECONDS * 1000);
    dialog.addEventListener("close", () => {
      clearTimeout(timer);
      form.querySelector("button").focus();
      if (dialog.returnValue !== "confirm") {
        const why = dialog.returnValue === "timeout" ? "not confirmed in time" : "cancelled";
        result.dataset.outcome = "cancelled";
        result.textContent = `${NOT_CONFIRMED[action]}: ${why}`;
        return;
      }
      const now = TARGETS[action](current);
      if (now !== target) {
        result.dataset.outcome = "error";
        result.textContent = `✗ ${action} not done: the station changed meanwhile ` +
          `(${now === null ? `nothing to ${action}` : now} now); check and try again`;
        return;
      }
      send(form);
    }, { once: true });
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form.action")) {
      const confirmed = form.dataset.action in TARGETS;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        // Enter in the abort note submits its form: only the confirm button confirms.
        if (document.querySelector("dialog.confirm[open]")) return;
        if (confirmed) confirmThen(form);
        else send(form);
      });
    }
    for (const dialog of document.querySelectorAll("dialog.confirm")) {
      dialog.querySelector(".confirm-seconds").textContent = String(CONFIRM_SECONDS);
      dialog.querySelector(".confirm-keep").addEventListener("click", () => dialog.close("cancel"));
      dialog.querySelector(".confirm-go").addEventListener("click", () => dialog.close("confirm"));
    }
    connect();
    refreshAudit();
  });
})();
