// The live page: subscribes to /stream and shows, per camera, a bar per emotion (the primary
// face's probabilities), the camera's dominant emotion and the face boxes on a canvas, in a
// colour per emotion. The camera image is drawn only when the server sends previews
// (websocket.preview: true); otherwise the boxes sit on a blank area of the frame's shape.
// A camera's zones (from the stream's hello) are drawn under the boxes: include zones
// outlined in green, exclude zones shaded red.
"use strict";

(() => {
  const COLORS = {
    angry: "#e5484d", disgust: "#46a758", fear: "#8e4ec6", happy: "#f5b800",
    sad: "#3e8ef7", surprise: "#f76b15", surprised: "#f76b15", neutral: "#9ba1a6",
    ahegao: "#e93d82", contempt: "#12a594",
  };
  const MAX_CANVAS_WIDTH = 960;
  const RECENT_RESULTS = 100;
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 10000;

  const params = new URLSearchParams(location.search);
  const state = {
    labels: [],
    preview: false,
    zones: {},
    cameras: new Map(),
    retryMs: RETRY_MIN_MS,
    skipped: 0,
  };

  /** A stable colour per emotion: the seed's palette, else one derived from the name. */
  function colorOf(label) {
    if (label in COLORS) return COLORS[label];
    let hash = 0;
    for (const ch of String(label)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${hash % 360} 70% 60%)`;
  }

  function streamUrl() {
    const query = new URLSearchParams({ preview: "1" });
    for (const key of ["token", "camera"]) {
      if (params.get(key)) query.set(key, params.get(key));
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/stream?${query}`;
  }

  function setStatus(text, kind) {
    const status = document.getElementById("status");
    status.textContent = text;
    status.dataset.state = kind;
  }

  function connect() {
    setStatus("connecting…", "connecting");
    const socket = new WebSocket(streamUrl());
    socket.onopen = () => {
      state.retryMs = RETRY_MIN_MS;
      setStatus("connected", "ok");
    };
    socket.onmessage = (event) => handle(JSON.parse(event.data));
    socket.onclose = (event) => {
      const hint = params.get("token") ? "" : " (add ?token=… to the URL if the server needs one)";
      setStatus(`disconnected${event.code ? ` (${event.code})` : ""}; retrying${hint}`, "error");
      setTimeout(connect, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, RETRY_MAX_MS);
    };
  }

  function handle(message) {
    switch (message.type) {
      case "hello":
        state.labels = message.labels;
        state.preview = message.preview;
        state.zones = message.zones || {};
        document.getElementById("footer").textContent = message.preview
          ? "Camera previews on."
          : "Camera images are off (websocket.preview: false); boxes are drawn on a blank frame.";
        break;
      case "preview":
        showPreview(message);
        break;
      case "skipped":
        state.skipped = message.skipped_total;
        break;
      default:
        if (message.schema !== undefined) showResult(message);
    }
  }

  function cameraView(name) {
    let view = state.cameras.get(name);
    if (view) return view;
    const template = document.getElementById("camera-template");
    const section = template.content.firstElementChild.cloneNode(true);
    section.dataset.camera = name;
    section.querySelector(".name").textContent = name;
    const bars = new Map();
    for (const label of state.labels) {
      const item = document.createElement("li");
      item.dataset.label = label;
      item.dataset.value = "0";
      item.style.setProperty("--emotion-color", colorOf(label));
      item.innerHTML = '<span class="label"></span><span class="track"><span class="fill">' +
        '</span></span><span class="value">0%</span>';
      item.querySelector(".label").textContent = label;
      section.querySelector(".bars").append(item);
      bars.set(label, item);
    }
    const names = [...state.cameras.keys(), name].sort();
    const main = document.getElementById("cameras");
    main.insertBefore(section, main.children[names.indexOf(name)] || null);
    document.getElementById("waiting").hidden = true;
    view = { section, bars, canvas: section.querySelector("canvas"), last: null, image: null,
             imageFrame: -1, recent: new Map(), drawPending: false, times: [] };
    state.cameras.set(name, view);
    return view;
  }

  function showResult(result) {
    const view = cameraView(result.camera);
    view.last = result;
    // Kept for the preview images, which come later than the results of their frames.
    view.recent.set(result.frame, result);
    if (view.recent.size > RECENT_RESULTS) view.recent.delete(view.recent.keys().next().value);
    const now = performance.now();
    view.times.push(now);
    while (view.times.length && now - view.times[0] > 2000) view.times.shift();

    for (const [label, item] of view.bars) {
      const value = result.predictions[label] ?? 0;
      item.dataset.value = String(value);
      item.querySelector(".fill").style.width = `${(value * 100).toFixed(1)}%`;
      item.querySelector(".value").textContent = `${Math.round(value * 100)}%`;
    }
    const dominant = view.section.querySelector(".dominant");
    const emotion = result.camera_emotion;
    dominant.textContent = emotion ?? "no face";
    dominant.dataset.emotion = emotion ?? "";
    dominant.style.setProperty("--emotion-color", emotion ? colorOf(emotion) : "");

    const rate = view.times.length > 1
      ? ((view.times.length - 1) * 1000) / (now - view.times[0]) : 0;
    const faces = result.faces.length;
    view.section.querySelector(".meta").textContent =
      `${faces} face${faces === 1 ? "" : "s"} · frame ${result.frame} · ` +
      `${result.width}×${result.height} · ${rate.toFixed(1)} results/s` +
      (state.skipped ? ` · ${state.skipped} skipped` : "");
    scheduleDraw(view);
  }

  function showPreview(message) {
    const view = cameraView(message.camera);
    const image = new Image();
    image.onload = () => {
      view.image = image;
      view.imageFrame = message.frame;
      scheduleDraw(view);
    };
    image.src = message.image;
  }

  function scheduleDraw(view) {
    if (view.drawPending) return;
    view.drawPending = true;
    requestAnimationFrame(() => {
      view.drawPending = false;
      draw(view);
    });
  }

  function draw(view) {
    if (!view.last) return;
    // Over a camera image, the boxes of that very frame (the image is up to
    // websocket.preview_interval_s older than the newest result); else the newest boxes.
    const withImage = Boolean(view.image && state.preview);
    const result = (withImage && view.recent.get(view.imageFrame)) || view.last;
    const canvas = view.canvas;
    const width = Math.min(result.width, MAX_CANVAS_WIDTH);
    const height = Math.round((result.height * width) / result.width);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    if (withImage) {
      ctx.drawImage(view.image, 0, 0, width, height);
    } else {
      ctx.fillStyle = "#0b0c10";
      ctx.fillRect(0, 0, width, height);
    }
    const lineWidth = Math.max(2, Math.round(width / 240));
    drawZones(ctx, state.zones[result.camera], width, height, lineWidth);
    const fontSize = Math.max(12, Math.round(width / 40));
    ctx.font = `600 ${fontSize}px system-ui, sans-serif`;
    ctx.textBaseline = "bottom";
    for (const face of result.faces) {
      const color = colorOf(face.emotion);
      const x = face.box.x1 * width;
      const y = face.box.y1 * height;
      const w = (face.box.x2 - face.box.x1) * width;
      const h = (face.box.y2 - face.box.y1) * height;
      ctx.strokeStyle = color;
      ctx.lineWidth = lineWidth;
      ctx.strokeRect(x, y, w, h);
      const p = face.smoothed[face.emotion] ?? 0;
      const text = `${face.emotion} ${Math.round(p * 100)}%`;
      const textWidth = ctx.measureText(text).width + 8;
      const textHeight = fontSize + 6;
      const top = y >= textHeight ? y - textHeight : y;
      ctx.fillStyle = color;
      ctx.fillRect(x - lineWidth / 2, top, textWidth, textHeight);
      ctx.fillStyle = "#111318";
      ctx.fillText(text, x + 4, top + textHeight - 3);
    }
  }

  /** The camera's include (green outline) and exclude (red shading) polygons. */
  function drawZones(ctx, zones, width, height, lineWidth) {
    if (!zones) return;
    const styles = [["include", "rgba(0, 200, 83, 0.12)", "#00c853"],
                    ["exclude", "rgba(255, 0, 0, 0.30)", "#ff0000"]];
    for (const [kind, fill, stroke] of styles) {
      for (const [name, points] of Object.entries(zones[kind] || {})) {
        ctx.beginPath();
        points.forEach(([x, y], i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x * width,
                                                                           y * height));
        ctx.closePath();
        ctx.fillStyle = fill;
        ctx.fill();
        ctx.setLineDash(kind === "include" ? [lineWidth * 3, lineWidth * 2] : []);
        ctx.strokeStyle = stroke;
        ctx.lineWidth = lineWidth;
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = stroke;
        ctx.fillText(name, points[0][0] * width + 4, points[0][1] * height + 18);
      }
    }
  }

  connect();
})();
