// caselib viewer front end (anywidget ESM). Raw stored values arrive as binary
// buffers; window/level/invert are applied here on a canvas.
// The VOI functions copy caselib.imaging.apply_window exactly (PS3.3 C.11.2.1):
// float64 arithmetic, clip, invert, then floor(y + 0.5).

const SVGNS = "http://www.w3.org/2000/svg";
const KEY_TOOLS = { w: "wl", m: "pan", z: "zoom", h: "probe", d: "distance", e: "ellipse", k: "point" };
const TOOL_ORDER = ["wl", "pan", "zoom", "probe", "distance", "ellipse", "point"];
const TOOL_LABEL = { wl: "tool_wl", pan: "pan", zoom: "zoom", probe: "probe", distance: "distance",
  ellipse: "roi", point: "tool_point" };
const TOOL_ICON = { wl: "◐", pan: "✥", zoom: "⊕", probe: "⊙", distance: "↔", ellipse: "◯", point: "✚" };
const MAX_CACHE = 96;

export function voi(x, c, w, fn, ymin, ymax) {
  if (fn === "SIGMOID") return (ymax - ymin) / (1 + Math.exp(-4 * (x - c) / w)) + ymin;
  let y;
  if (fn === "LINEAR_EXACT") {
    if (x <= c - w / 2) return ymin;
    if (x > c + w / 2) return ymax;
    y = ((x - c) / w + 0.5) * (ymax - ymin) + ymin;
  } else {
    if (x <= c - 0.5 - (w - 1) / 2) return ymin;
    if (x > c - 0.5 + (w - 1) / 2) return ymax;
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * (ymax - ymin) + ymin;
  }
  return Math.min(ymax, Math.max(ymin, y));
}

export function display8(x, c, w, fn, invert) {
  let y = voi(x, c, w, fn, 0, 255);
  if (invert) y = 255 - y;
  return Math.floor(y + 0.5);
}

function fmt(template, params) {
  return String(template || "").replace(/\{(\w+)(?::\.(\d+)f)?\}/g, (m, name, digits) => {
    const v = params[name];
    if (v === undefined || v === null) return "";
    if (digits !== undefined && typeof v === "number") return v.toFixed(Number(digits));
    return String(v);
  });
}

function typed(dtype, buf) {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  switch (dtype) {
    case "u1": return new Uint8Array(ab);
    case "i1": return new Int8Array(ab);
    case "u2": return new Uint16Array(ab);
    case "i2": return new Int16Array(ab);
    case "u4": return new Uint32Array(ab);
    case "i4": return new Int32Array(ab);
    case "f4": return new Float32Array(ab);
    default: throw new Error("caselib viewer: unsupported dtype " + dtype);
  }
}

function h(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.appendChild(c);
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function render({ model, el }) {
  const meta = model.get("meta");
  const rows = meta.rows, cols = meta.cols, n = meta.n_slices;
  const spacing = meta.pixel_spacing; // [row_mm, col_mm] or null
  const aspect = spacing ? spacing[0] / spacing[1] : 1; // displayed height of one row, in column widths
  let L = model.get("labels");
  const t0 = performance.now();
  const cache = new Map();   // index -> {data, slope, intercept, min, max, channels, dtype}
  const pending = new Map(); // index -> time requested
  let idx = model.get("slice_index");
  let wc = model.get("window_center"), ww = model.get("window_width");
  let inv = model.get("invert");
  let tool = model.get("tool");
  let zoom = 1, panX = 0, panY = 0;
  let cursor = { row: (rows - 1) / 2, col: (cols - 1) / 2 };
  let kbCursorShown = false;
  let drag = null, drawing = null, pendingStart = null;
  let lut = null, lutKey = "";
  let drawCount = 0, firstImageMs = null, drawnIndex = -1;
  let syncTimer = null, playTimer = null;
  const fn = meta.voi_function || "LINEAR";

  // ---------------------------------------------------------------- DOM
  const suppress = (e) => { e.setAttribute("data-lm-suppress-shortcuts", "true"); return e; };
  const root = h("div", { class: "cl-viewer", lang: model.get("lang") === "en" ? "en" : "zh-CN" });
  const toolbar = h("div", { class: "cl-toolbar", role: "toolbar" });
  const toolButtons = {};
  for (const name of TOOL_ORDER) {
    const b = suppress(h("button", { type: "button", class: "cl-btn cl-tool", "data-tool": name }));
    b.addEventListener("click", () => setTool(name));
    toolButtons[name] = b;
    toolbar.appendChild(b);
  }
  const presetSelect = suppress(h("select", { class: "cl-presets", "data-role": "presets" }));
  const invertBtn = suppress(h("button", { type: "button", class: "cl-btn", "data-role": "invert" }));
  const resetBtn = suppress(h("button", { type: "button", class: "cl-btn", "data-role": "reset" }));
  const playBtn = suppress(h("button", { type: "button", class: "cl-btn", "data-role": "play" }));
  const annBtn = suppress(h("button", { type: "button", class: "cl-btn", "data-role": "annotations" }));
  toolbar.append(presetSelect, invertBtn, resetBtn, playBtn, annBtn);

  const viewport = suppress(h("div", { class: "cl-viewport", tabindex: "0", role: "application",
    "data-role": "viewport" }));
  viewport.style.height = model.get("height") + "px";
  const stage = h("div", { class: "cl-stage" });
  const canvas = h("canvas", { class: "cl-image", "data-role": "image", width: String(cols), height: String(rows) });
  const ctx = canvas.getContext("2d", { willReadFrequently: false });
  const imageData = ctx.createImageData(cols, rows);
  const out32 = new Uint32Array(imageData.data.buffer);
  const overlay = svg("svg", { class: "cl-overlay", viewBox: `-0.5 -0.5 ${cols} ${rows}`,
    preserveAspectRatio: "none", "aria-hidden": "true" });
  const annLayer = svg("g", { class: "cl-annotations", "data-role": "annotation-layer" });
  const markLayer = svg("g", { class: "cl-marks-layer" });
  const liveLayer = svg("g", { class: "cl-live" });
  overlay.append(annLayer, markLayer, liveLayer);
  stage.append(canvas, overlay);
  const orient = {};
  for (const side of ["top", "bottom", "left", "right"]) {
    orient[side] = h("div", { class: `cl-orient cl-orient-${side}`, "data-role": `orient-${side}` });
    orient[side].textContent = meta.orientation ? meta.orientation[side] : "";
  }
  const infoTL = h("div", { class: "cl-info cl-info-tl", "data-role": "info" });
  const infoBL = h("div", { class: "cl-info cl-info-bl", "data-role": "probe" });
  const loading = h("div", { class: "cl-loading" });
  viewport.append(stage, orient.top, orient.bottom, orient.left, orient.right, infoTL, infoBL, loading);

  const controls = h("div", { class: "cl-controls" });
  const slider = suppress(h("input", { type: "range", min: "0", max: String(Math.max(0, n - 1)), step: "1",
    class: "cl-slider", "data-role": "slider" }));
  const centerIn = suppress(h("input", { type: "number", step: "1", class: "cl-num", "data-role": "center" }));
  const widthIn = suppress(h("input", { type: "number", step: "1", min: "1", class: "cl-num", "data-role": "width" }));
  const centerLabel = h("label", {}, [h("span", { class: "cl-lbl" }), centerIn]);
  const widthLabel = h("label", {}, [h("span", { class: "cl-lbl" }), widthIn]);
  const fpsIn = suppress(h("input", { type: "number", min: "1", max: "60", step: "1", class: "cl-num", "data-role": "fps" }));
  const fpsLabel = h("label", {}, [h("span", { class: "cl-lbl" }), fpsIn]);
  controls.append(slider, centerLabel, widthLabel, fpsLabel);
  const presetSource = h("div", { class: "cl-source", "data-role": "preset-source" });
  const status = h("div", { class: "cl-status", "aria-live": "polite", "data-role": "status" });
  const marksBox = h("div", { class: "cl-marks" });
  const marksHead = h("div", { class: "cl-marks-head" });
  const clearBtn = suppress(h("button", { type: "button", class: "cl-btn", "data-role": "clear-marks" }));
  const marksList = h("ul", { class: "cl-mark-list", "data-role": "marks" });
  marksHead.append(h("span", { class: "cl-lbl" }), clearBtn);
  marksBox.append(marksHead, marksList);
  const help = h("div", { class: "cl-help" });
  const citation = h("div", { class: "cl-citation", "data-role": "citation" });
  root.append(toolbar, viewport, controls, presetSource, status, marksBox, help, citation);
  el.appendChild(root);

  if (meta.is_color) { presetSelect.hidden = true; centerLabel.hidden = true; widthLabel.hidden = true; }
  if (!meta.presets.length) presetSelect.hidden = true;
  if (n < 2) { slider.hidden = true; playBtn.hidden = true; fpsLabel.hidden = true; }
  if (!(meta.cine || n > 1)) playBtn.hidden = true;
  if (!meta.cine) fpsLabel.hidden = true;

  // ---------------------------------------------------------------- labels (i18n)
  function applyLabels() {
    L = model.get("labels");
    root.setAttribute("lang", model.get("lang") === "en" ? "en" : "zh-CN");
    for (const name of TOOL_ORDER) {
      const b = toolButtons[name];
      const key = Object.keys(KEY_TOOLS).find((k) => KEY_TOOLS[k] === name);
      b.textContent = `${TOOL_ICON[name]} ${L[TOOL_LABEL[name]]}`;
      b.title = `${L[TOOL_LABEL[name]]} (${key})`;
      b.setAttribute("aria-label", L[TOOL_LABEL[name]]);
    }
    invertBtn.textContent = L.invert; resetBtn.textContent = L.reset;
    centerLabel.firstChild.textContent = L.level; widthLabel.firstChild.textContent = L.window;
    fpsLabel.firstChild.textContent = L.fps;
    slider.setAttribute("aria-label", L.slider);
    viewport.setAttribute("aria-label", L.image);
    clearBtn.textContent = L.clear_marks;
    marksHead.firstChild.textContent = L.marks;
    help.textContent = L.keyboard_help;
    loading.textContent = L.loading;
    presetSelect.innerHTML = "";
    const first = h("option", { value: "", text: L.presets });
    presetSelect.appendChild(first);
    meta.presets.forEach((p, i) => {
      const label = model.get("lang") === "en" ? p.label_en : p.label_zh;
      const o = h("option", { value: p.name, title: p.source, text: `${i < 9 ? (i + 1) + " " : ""}${label} (W ${p.width} / L ${p.center})` });
      presetSelect.appendChild(o);
    });
    presetSelect.setAttribute("aria-label", L.presets);
    citation.textContent = meta.citation || "";
    updatePlay(); updateAnnButton(); updateInfo(); renderMarks();
  }

  // ---------------------------------------------------------------- layout / transform
  function baseScale() {
    const vw = viewport.clientWidth || 512, vh = viewport.clientHeight || 512;
    return Math.min(vw / cols, vh / (rows * aspect));
  }
  function applyTransform() {
    const s = baseScale() * zoom;
    const vw = viewport.clientWidth || 512, vh = viewport.clientHeight || 512;
    const w = cols * s, hgt = rows * aspect * s;
    const x = (vw - w) / 2 + panX, y = (vh - hgt) / 2 + panY;
    stage.style.width = cols + "px"; stage.style.height = rows + "px";
    stage.style.transform = `translate(${x}px, ${y}px) scale(${s}, ${s * aspect})`;
    canvas.style.imageRendering = s >= 2 ? "pixelated" : "auto";
  }
  const ro = new ResizeObserver(() => applyTransform());
  ro.observe(viewport);

  // ---------------------------------------------------------------- slices
  function request(i) {
    const want = [];
    const P = meta.prefetch || 4;
    const order = [i];
    for (let k = 1; k <= P; k++) { order.push(i + k, i - k); }
    const now = performance.now();
    for (const j of order) {
      if (j < 0 || j >= n || cache.has(j)) continue;
      const since = pending.get(j);
      if (since !== undefined && now - since < 3000) continue;
      pending.set(j, now); want.push(j);
    }
    if (want.length) model.send({ type: "get", indices: want });
  }
  function evict() {
    if (cache.size <= MAX_CACHE) return;
    const keys = [...cache.keys()].sort((a, b) => Math.abs(b - idx) - Math.abs(a - idx));
    for (const k of keys.slice(0, cache.size - MAX_CACHE)) cache.delete(k);
  }
  function onCustom(msg, buffers) {
    if (!msg || msg.type !== "slice") return;
    const data = typed(msg.dtype, buffers[0]);
    let mn = msg.min, mx = msg.max;
    cache.set(msg.index, { data, slope: msg.slope, intercept: msg.intercept, channels: msg.channels,
      min: mn, max: mx, dtype: msg.dtype });
    pending.delete(msg.index);
    evict();
    if (msg.index === idx) draw();
  }
  model.on("msg:custom", onCustom);

  // ---------------------------------------------------------------- drawing
  function modalityValue(s, k) {
    const raw = s.data[k];
    if (s.dtype === "f4") return raw;
    return Math.fround(raw * s.slope + s.intercept);
  }
  function effectiveInvert() { return inv !== !!meta.monochrome1; }

  function draw() {
    const s = cache.get(idx);
    if (!s) { loading.hidden = false; request(idx); return; }
    loading.hidden = true;
    const invert = effectiveInvert();
    const N = rows * cols;
    if (s.channels === 3) {
      const d = s.data, px = imageData.data;
      for (let k = 0, j = 0; k < N; k++, j += 3) {
        const o = k * 4;
        if (invert) { px[o] = 255 - d[j]; px[o + 1] = 255 - d[j + 1]; px[o + 2] = 255 - d[j + 2]; }
        else { px[o] = d[j]; px[o + 1] = d[j + 1]; px[o + 2] = d[j + 2]; }
        px[o + 3] = 255;
      }
    } else if (s.dtype !== "f4" && s.max - s.min < (1 << 20)) {
      const key = `${s.min}|${s.max}|${s.slope}|${s.intercept}|${wc}|${ww}|${invert}`;
      if (key !== lutKey) {
        const size = s.max - s.min + 1;
        if (!lut || lut.length < size) lut = new Uint32Array(Math.max(size, 4096));
        for (let v = 0; v < size; v++) {
          const x = Math.fround((v + s.min) * s.slope + s.intercept);
          const g = display8(x, wc, ww, fn, invert);
          lut[v] = 0xff000000 | (g << 16) | (g << 8) | g;
        }
        lutKey = key;
      }
      const d = s.data, off = s.min, tab = lut;
      for (let k = 0; k < N; k++) out32[k] = tab[d[k] - off];
    } else {
      const d = s.data;
      for (let k = 0; k < N; k++) {
        const x = modalityValue(s, k);
        const g = x !== x ? 0 : display8(x, wc, ww, fn, invert);
        out32[k] = 0xff000000 | (g << 16) | (g << 8) | g;
      }
    }
    ctx.putImageData(imageData, 0, 0);
    drawnIndex = idx;
    drawCount++;
    if (firstImageMs === null) firstImageMs = performance.now() - t0;
    canvas.dataset.slice = String(idx);
    canvas.dataset.center = String(wc);
    canvas.dataset.width = String(ww);
    canvas.dataset.invert = String(invert);
    renderOverlay();
    updateInfo();
    root.dispatchEvent(new CustomEvent("cl-drawn", { detail: { index: idx, count: drawCount } }));
  }

  function unit() { return meta.unit || ""; }
  function fmtNum(v) { return Number.isInteger(v) ? String(v) : v.toFixed(1); }
  function updateInfo() {
    const sliceText = fmt(meta.cine ? L.frame : L.slice, { n: idx + 1, m: n });
    const wl = meta.is_color ? "" : fmt(L.window_level, { width: fmtNum(ww), center: fmtNum(wc) });
    infoTL.textContent = `${sliceText}  ${wl}`;
    if (document.activeElement !== centerIn) centerIn.value = String(Math.round(wc * 100) / 100);
    if (document.activeElement !== widthIn) widthIn.value = String(Math.round(ww * 100) / 100);
    if (document.activeElement !== slider) slider.value = String(idx);
    slider.setAttribute("aria-valuetext", sliceText);
    invertBtn.setAttribute("aria-pressed", String(inv));
    for (const name of TOOL_ORDER) toolButtons[name].setAttribute("aria-pressed", String(name === tool));
    viewport.dataset.tool = tool;
    fpsIn.value = String(Math.round(model.get("fps")));
  }

  // ---------------------------------------------------------------- state changes
  function syncSoon(immediate) {
    if (syncTimer) clearTimeout(syncTimer);
    const flush = () => {
      syncTimer = null;
      model.set({ window_center: wc, window_width: ww, slice_index: idx, invert: inv });
      model.save_changes();
    };
    if (immediate) flush(); else syncTimer = setTimeout(flush, 120);
  }
  function setSlice(i, fromModel) {
    i = Math.max(0, Math.min(n - 1, Math.round(i)));
    if (i === idx && drawnIndex === idx) return;
    idx = i;
    draw();
    request(idx);
    if (!fromModel) { model.set("slice_index", idx); model.save_changes(); }
  }
  function setWindow(c, w, fromModel) {
    w = Math.max(1, w);
    if (c === wc && w === ww) return;
    wc = c; ww = w;
    draw();
    if (!fromModel) syncSoon(false);
  }
  function setTool(name) {
    if (!TOOL_ORDER.includes(name)) return;
    tool = name; drawing = null; liveLayer.innerHTML = "";
    model.set("tool", name); model.save_changes();
    updateInfo();
    status.textContent = `${TOOL_ICON[name]} ${L[TOOL_LABEL[name]]}`;
  }
  function choosePreset(name) {
    const p = meta.presets.find((q) => q.name === name);
    if (!p) return;
    setWindow(p.center, p.width, false);
    syncSoon(true);
    presetSelect.value = name;
    presetSource.textContent = fmt(L.preset_source, { source: p.source });
  }
  function reset() {
    zoom = 1; panX = 0; panY = 0; applyTransform();
    const w0 = model.get("meta").initial_window;
    inv = false;
    if (w0) { wc = w0[0]; ww = w0[1]; }
    draw(); syncSoon(true);
  }
  function togglePlay(force) {
    const on = force === undefined ? !model.get("playing") : force;
    model.set("playing", on); model.save_changes();
    startStopPlay();
  }
  function startStopPlay() {
    if (playTimer) { clearInterval(playTimer); playTimer = null; }
    if (model.get("playing")) {
      const period = 1000 / Math.max(1, model.get("fps") || 10);
      playTimer = setInterval(() => {
        const next = (idx + 1) % n;
        if (cache.has(next)) setSlice(next, false); else request(next);
      }, period);
    }
    updatePlay();
  }
  function updatePlay() {
    playBtn.textContent = model.get("playing") ? `⏸ ${L.pause}` : `▶ ${L.play}`;
    playBtn.setAttribute("aria-pressed", String(!!model.get("playing")));
  }
  function toggleAnnotations() {
    if (!model.get("reveal_allowed")) return;
    model.send({ type: "reveal", show: !model.get("annotations_visible") });
  }
  function updateAnnButton() {
    const m = model.get("meta");
    annBtn.hidden = !m.has_annotations || !model.get("reveal_allowed");
    annBtn.textContent = model.get("annotations_visible") ? L.hide_annotations : L.show_annotations;
    annBtn.setAttribute("aria-pressed", String(!!model.get("annotations_visible")));
  }

  // ---------------------------------------------------------------- overlay
  function lineEl(r0, c0, r1, c1, cls, color) {
    const l = svg("line", { x1: c0, y1: r0, x2: c1, y2: r1, class: cls, "vector-effect": "non-scaling-stroke" });
    if (color) l.setAttribute("stroke", color);
    return l;
  }
  function textEl(r, c, text, cls, color) {
    const tx = svg("text", { x: c, y: r, class: cls, "font-size": String(Math.max(rows, cols) / 32) });
    if (color) tx.setAttribute("fill", color);
    tx.textContent = text;
    return tx;
  }
  function renderOverlay() {
    annLayer.innerHTML = "";
    if (model.get("annotations_visible")) {
      for (const a of model.get("visible_annotations")) {
        if (a.slice_index !== undefined && a.slice_index !== null && a.slice_index !== idx) continue;
        const g = svg("g", { class: "cl-ann", "data-kind": a.kind });
        const color = a.color || "#ffd200";
        if (a.kind === "arrow") {
          g.appendChild(lineEl(a.row, a.col, a.end_row, a.end_col, "cl-ann-line", color));
          const ang = Math.atan2(a.end_row - a.row, a.end_col - a.col), size = Math.max(rows, cols) / 60;
          const p1 = [a.end_col - size * Math.cos(ang - 0.4), a.end_row - size * Math.sin(ang - 0.4)];
          const p2 = [a.end_col - size * Math.cos(ang + 0.4), a.end_row - size * Math.sin(ang + 0.4)];
          g.appendChild(svg("polygon", { points: `${a.end_col},${a.end_row} ${p1[0]},${p1[1]} ${p2[0]},${p2[1]}`, fill: color }));
        } else if (a.kind === "circle" || a.kind === "ellipse") {
          const rx = a.kind === "circle" ? a.radius : a.radius_col, ry = a.kind === "circle" ? a.radius : a.radius_row;
          g.appendChild(svg("ellipse", { cx: a.col, cy: a.row, rx, ry, class: "cl-ann-shape", stroke: color,
            "vector-effect": "non-scaling-stroke" }));
        }
        if (a.text) {
          const r = a.kind === "circle" ? a.row - a.radius - 2 : a.kind === "ellipse" ? a.row - a.radius_row - 2 : a.row;
          g.appendChild(textEl(r, a.col, a.text, "cl-ann-text", color));
        }
        annLayer.appendChild(g);
      }
    }
    markLayer.innerHTML = "";
    for (const m of model.get("marks_data")) {
      if (m.slice_index !== idx) continue;
      const g = svg("g", { class: "cl-mark", "data-kind": m.kind });
      if (m.kind === "point") {
        const s = Math.max(rows, cols) / 80;
        g.appendChild(lineEl(m.row - s, m.col, m.row + s, m.col, "cl-mark-line"));
        g.appendChild(lineEl(m.row, m.col - s, m.row, m.col + s, "cl-mark-line"));
      } else if (m.kind === "line") {
        g.appendChild(lineEl(m.row, m.col, m.end_row, m.end_col, "cl-mark-line"));
      } else if (m.kind === "ellipse") {
        g.appendChild(svg("ellipse", { cx: m.col, cy: m.row, rx: m.radius_col, ry: m.radius_row,
          class: "cl-mark-shape", "vector-effect": "non-scaling-stroke" }));
      }
      markLayer.appendChild(g);
    }
    if (kbCursorShown) {
      const s = Math.max(rows, cols) / 50;
      const g = svg("g", { class: "cl-kbcursor", "data-role": "keyboard-cursor" });
      g.appendChild(lineEl(cursor.row - s, cursor.col, cursor.row + s, cursor.col, "cl-kb-line"));
      g.appendChild(lineEl(cursor.row, cursor.col - s, cursor.row, cursor.col + s, "cl-kb-line"));
      markLayer.appendChild(g);
    }
  }

  function describeMark(m) {
    const u = unit();
    const ms = m.measurements || {};
    if (m.kind === "point") {
      const v = ms.value !== undefined ? fmtNum(ms.value) : "";
      return fmt(L.point_value, { row: fmtNum(m.row), col: fmtNum(m.col), value: v, unit: u });
    }
    if (m.kind === "line") {
      if (ms.length_mm !== undefined) return fmt(L.line_length, { mm: ms.length_mm });
      return `${L.distance}: ${Math.hypot(m.end_row - m.row, m.end_col - m.col).toFixed(1)} px (${L.no_spacing})`;
    }
    if (ms.mean !== undefined) {
      return `${L.roi}: ` + fmt(L.roi_stats_unit, { mean: ms.mean, sd: ms.sd, area: ms.area_mm2 !== undefined ? ms.area_mm2 : NaN, unit: u });
    }
    return `${L.roi}…`;
  }
  function renderMarks() {
    marksList.innerHTML = "";
    const marks = model.get("marks_data");
    marksBox.hidden = marks.length === 0;
    marks.forEach((m, i) => {
      const text = `${i + 1}. [${fmt(meta.cine ? L.frame : L.slice, { n: m.slice_index + 1, m: n })}] ${describeMark(m)}`;
      const del = suppress(h("button", { type: "button", class: "cl-btn cl-del", "aria-label": `${L.delete_mark} ${i + 1}`, text: "×" }));
      del.addEventListener("click", () => {
        const copy = model.get("marks_data").slice(); copy.splice(i, 1);
        model.set("marks_data", copy); model.save_changes();
      });
      const goto = suppress(h("button", { type: "button", class: "cl-link", text }));
      goto.addEventListener("click", () => setSlice(m.slice_index, false));
      marksList.appendChild(h("li", { "data-kind": m.kind }, [goto, del]));
    });
  }
  function addMark(mark) {
    model.set("marks_data", [...model.get("marks_data"), mark]);
    model.save_changes();
    status.textContent = describeMark(mark);
  }

  // ---------------------------------------------------------------- probe
  function probeAt(row, col) {
    const r = Math.round(row), c = Math.round(col);
    const s = cache.get(idx);
    if (!s || r < 0 || c < 0 || r >= rows || c >= cols) { infoBL.textContent = ""; return null; }
    const k = r * cols + c;
    let text, value;
    if (s.channels === 3) {
      value = [s.data[3 * k], s.data[3 * k + 1], s.data[3 * k + 2]];
      text = `RGB ${value.join(", ")} (${r}, ${c})`;
    } else {
      value = modalityValue(s, k);
      text = fmt(L.probe_value_unit, { value: fmtNum(value), unit: unit(), row: r, col: c });
    }
    infoBL.textContent = text;
    infoBL.dataset.value = String(value);
    infoBL.dataset.row = String(r); infoBL.dataset.col = String(c);
    return value;
  }

  // ---------------------------------------------------------------- pointer
  function toImage(ev) {
    const rect = canvas.getBoundingClientRect();
    return { col: (ev.clientX - rect.left) / rect.width * cols - 0.5,
             row: (ev.clientY - rect.top) / rect.height * rows - 0.5 };
  }
  function wlSensitivity() {
    const s = cache.get(idx);
    if (!s || s.channels === 3) return 1;
    const range = Math.abs((s.max - s.min) * (s.dtype === "f4" ? 1 : s.slope)) || 256;
    return Math.max(range / 512, 0.01);
  }
  function startShape(p) {
    drawing = { kind: tool, r0: p.row, c0: p.col, r1: p.row, c1: p.col };
    updateLive();
  }
  function updateLive() {
    liveLayer.innerHTML = "";
    if (!drawing) return;
    const d = drawing;
    if (d.kind === "distance") {
      liveLayer.appendChild(lineEl(d.r0, d.c0, d.r1, d.c1, "cl-mark-line"));
      const mm = spacing ? Math.hypot((d.r1 - d.r0) * spacing[0], (d.c1 - d.c0) * spacing[1]) : null;
      status.textContent = mm !== null ? fmt(L.line_length, { mm }) : `${Math.hypot(d.r1 - d.r0, d.c1 - d.c0).toFixed(1)} px`;
    } else if (d.kind === "ellipse") {
      liveLayer.appendChild(svg("ellipse", { cx: d.c0, cy: d.r0, rx: Math.abs(d.c1 - d.c0) || 0.5,
        ry: Math.abs(d.r1 - d.r0) || 0.5, class: "cl-mark-shape", "vector-effect": "non-scaling-stroke" }));
    }
  }
  function finishShape() {
    const d = drawing; drawing = null; liveLayer.innerHTML = "";
    if (!d) return;
    if (d.kind === "distance" && Math.hypot(d.r1 - d.r0, d.c1 - d.c0) > 0.5) {
      addMark({ kind: "line", slice_index: idx, row: d.r0, col: d.c0, end_row: d.r1, end_col: d.c1 });
    } else if (d.kind === "ellipse" && Math.abs(d.r1 - d.r0) >= 0.5 && Math.abs(d.c1 - d.c0) >= 0.5) {
      addMark({ kind: "ellipse", slice_index: idx, row: d.r0, col: d.c0,
        radius_row: Math.abs(d.r1 - d.r0), radius_col: Math.abs(d.c1 - d.c0) });
    }
  }
  const touches = new Map(); // pointerId -> {x, y}: two fingers pinch-zoom
  let pinch = null;
  function pinchDistance() {
    const [a, b] = [...touches.values()];
    return Math.hypot(a.x - b.x, a.y - b.y) || 1;
  }
  function onPointerDown(ev) {
    if (ev.pointerType === "touch") {
      touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (touches.size === 2) {
        drag = null; drawing = null; liveLayer.innerHTML = "";
        pinch = { d0: pinchDistance(), zoom };
        ev.preventDefault();
        return;
      }
    }
    if (ev.button !== undefined && ev.button > 0 && ev.pointerType === "mouse" && ev.button !== 1 && ev.button !== 2) return;
    viewport.focus({ preventScroll: true });
    const p = toImage(ev);
    let mode = tool;
    if (ev.button === 1) mode = "pan";
    if (ev.button === 2) mode = "zoom";
    drag = { mode, x: ev.clientX, y: ev.clientY, wc, ww, zoom, panX, panY, id: ev.pointerId };
    viewport.setPointerCapture(ev.pointerId);
    if (mode === "distance" || mode === "ellipse") startShape(p);
    else if (mode === "point") addMark({ kind: "point", slice_index: idx, row: p.row, col: p.col });
    else if (mode === "probe") probeAt(p.row, p.col);
    ev.preventDefault();
  }
  function onPointerMove(ev) {
    if (touches.has(ev.pointerId)) touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pinch && touches.size === 2) {
      zoom = Math.max(0.25, Math.min(16, pinch.zoom * pinchDistance() / pinch.d0)); applyTransform();
      return;
    }
    const p = toImage(ev);
    probeAt(p.row, p.col);
    if (!drag || drag.id !== ev.pointerId) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (drag.mode === "wl") {
      const k = wlSensitivity();
      setWindow(drag.wc + dy * k, drag.ww + dx * k, false);
    } else if (drag.mode === "pan") {
      panX = drag.panX + dx; panY = drag.panY + dy; applyTransform();
    } else if (drag.mode === "zoom") {
      zoom = Math.max(0.25, Math.min(16, drag.zoom * Math.exp(-dy / 200))); applyTransform();
    } else if (drawing) {
      drawing.r1 = p.row; drawing.c1 = p.col; updateLive();
    }
  }
  function onPointerUp(ev) {
    touches.delete(ev.pointerId);
    if (touches.size < 2) pinch = null;
    if (!drag || drag.id !== ev.pointerId) return;
    if (drawing) { const p = toImage(ev); drawing.r1 = p.row; drawing.c1 = p.col; finishShape(); }
    if (drag.mode === "wl") syncSoon(true);
    drag = null;
  }
  function onWheel(ev) {
    ev.preventDefault();
    if (ev.ctrlKey) { zoom = Math.max(0.25, Math.min(16, zoom * Math.exp(-ev.deltaY / 300))); applyTransform(); return; }
    const step = ev.deltaY > 0 ? 1 : ev.deltaY < 0 ? -1 : 0;
    if (step) setSlice(idx + step, false);
  }
  viewport.addEventListener("pointerdown", onPointerDown);
  viewport.addEventListener("pointermove", onPointerMove);
  viewport.addEventListener("pointerup", onPointerUp);
  viewport.addEventListener("pointercancel", onPointerUp);
  viewport.addEventListener("wheel", onWheel, { passive: false });
  viewport.addEventListener("contextmenu", (e) => e.preventDefault());

  // ---------------------------------------------------------------- keyboard
  function keyApply() {
    const p = cursor;
    if (tool === "point") addMark({ kind: "point", slice_index: idx, row: p.row, col: p.col });
    else if (tool === "probe" || tool === "wl" || tool === "pan" || tool === "zoom") {
      const v = probeAt(p.row, p.col);
      if (v !== null) status.textContent = infoBL.textContent;
    } else if (tool === "distance" || tool === "ellipse") {
      if (!pendingStart) { pendingStart = { ...p }; startShape(p); }
      else { drawing.r1 = p.row; drawing.c1 = p.col; pendingStart = null; finishShape(); }
    }
  }
  function onKey(ev) {
    if (ev.target !== viewport) return;
    const k = ev.key;
    let handled = true;
    const wlStep = wlSensitivity() * 4;
    if (ev.altKey && k.startsWith("Arrow")) {
      const step = ev.shiftKey ? 10 : 1;
      const d = { ArrowUp: [-step, 0], ArrowDown: [step, 0], ArrowLeft: [0, -step], ArrowRight: [0, step] }[k];
      if (tool === "pan") { panX -= d[1] * 10; panY -= d[0] * 10; applyTransform(); }
      else {
        kbCursorShown = true;
        cursor = { row: Math.max(0, Math.min(rows - 1, cursor.row + d[0])), col: Math.max(0, Math.min(cols - 1, cursor.col + d[1])) };
        probeAt(cursor.row, cursor.col);
        if (drawing) { drawing.r1 = cursor.row; drawing.c1 = cursor.col; updateLive(); }
        renderOverlay();
      }
    } else if (k === "ArrowUp") setSlice(idx - 1, false);
    else if (k === "ArrowDown") setSlice(idx + 1, false);
    else if (k === "PageUp") setSlice(idx - 10, false);
    else if (k === "PageDown") setSlice(idx + 10, false);
    else if (k === "Home") setSlice(0, false);
    else if (k === "End") setSlice(n - 1, false);
    else if (k === "ArrowLeft" && ev.shiftKey) setWindow(wc, ww - wlStep, false);
    else if (k === "ArrowRight" && ev.shiftKey) setWindow(wc, ww + wlStep, false);
    else if (k === "ArrowLeft") setWindow(wc - wlStep, ww, false);
    else if (k === "ArrowRight") setWindow(wc + wlStep, ww, false);
    else if (k === "+" || k === "=") { zoom = Math.min(16, zoom * 1.25); applyTransform(); }
    else if (k === "-" || k === "_") { zoom = Math.max(0.25, zoom / 1.25); applyTransform(); }
    else if (k === "0" || k === "r") reset();
    else if (k === "i") { inv = !inv; draw(); syncSoon(true); }
    else if (k === " ") togglePlay();
    else if (k === "a") toggleAnnotations();
    else if (k === "Enter") { kbCursorShown = true; keyApply(); renderOverlay(); }
    else if (k === "Escape") { drawing = null; pendingStart = null; liveLayer.innerHTML = ""; }
    else if (/^[1-9]$/.test(k) && meta.presets[Number(k) - 1]) choosePreset(meta.presets[Number(k) - 1].name);
    else if (KEY_TOOLS[k] && !ev.ctrlKey && !ev.metaKey) setTool(KEY_TOOLS[k]);
    else handled = false;
    if (handled) { ev.preventDefault(); ev.stopPropagation(); }
  }
  viewport.addEventListener("keydown", onKey);

  // ---------------------------------------------------------------- controls
  slider.addEventListener("input", () => setSlice(Number(slider.value), false));
  const numChange = () => {
    const c = Number(centerIn.value), w = Number(widthIn.value);
    if (Number.isFinite(c) && Number.isFinite(w) && w >= 1) { setWindow(c, w, false); syncSoon(true); }
  };
  centerIn.addEventListener("change", numChange);
  widthIn.addEventListener("change", numChange);
  for (const inp of [centerIn, widthIn]) inp.addEventListener("keydown", (e) => { if (e.key === "Enter") numChange(); e.stopPropagation(); });
  fpsIn.addEventListener("change", () => { const f = Number(fpsIn.value); if (f > 0) { model.set("fps", f); model.save_changes(); startStopPlay(); } });
  presetSelect.addEventListener("change", () => choosePreset(presetSelect.value));
  invertBtn.addEventListener("click", () => { inv = !inv; draw(); syncSoon(true); });
  resetBtn.addEventListener("click", reset);
  playBtn.addEventListener("click", () => togglePlay());
  annBtn.addEventListener("click", toggleAnnotations);
  clearBtn.addEventListener("click", () => { model.set("marks_data", []); model.save_changes(); });

  // ---------------------------------------------------------------- model -> view
  const onModel = {
    "change:slice_index": () => setSlice(model.get("slice_index"), true),
    "change:window_center change:window_width": () => {
      if (syncTimer) return; // our own pending change wins until flushed
      setWindow(model.get("window_center"), model.get("window_width"), true);
    },
    "change:invert": () => { inv = model.get("invert"); draw(); },
    "change:tool": () => { tool = model.get("tool"); updateInfo(); },
    "change:playing change:fps": startStopPlay,
    "change:marks_data": () => {
      renderMarks(); renderOverlay();
      const marks = model.get("marks_data");
      status.textContent = marks.length ? describeMark(marks[marks.length - 1]) : "";
    },
    "change:visible_annotations change:annotations_visible": () => { renderOverlay(); updateAnnButton(); },
    "change:labels": applyLabels,
    "change:meta": updateAnnButton,
    "change:height": () => { viewport.style.height = model.get("height") + "px"; applyTransform(); },
  };
  for (const [ev, f] of Object.entries(onModel)) model.on(ev, f);

  // debugging / test hooks: state and timings of this view
  root.__caselib = {
    state: () => ({ slice: idx, center: wc, width: ww, invert: inv, tool, zoom, drawCount, firstImageMs,
      cached: [...cache.keys()].sort((a, b) => a - b), drawnIndex }),
    display8, voi,
  };

  applyLabels();
  applyTransform();
  request(idx);
  draw();
  startStopPlay();

  return () => {
    for (const [ev, f] of Object.entries(onModel)) model.off(ev, f);
    model.off("msg:custom", onCustom);
    ro.disconnect();
    if (playTimer) clearInterval(playTimer);
    if (syncTimer) clearTimeout(syncTimer);
  };
}

export default { render };
