// The asl-recog page. Plain JavaScript, no library, nothing loaded from elsewhere.
// The browser never converts the image to 28x28 itself: it uploads a new photo without a box, so
// the service looks for the hand (its answer's "hand" is the box it cut out), puts the crop box
// there, and sends the box (/score?crop=x,y,w,h) once the person moves it. It draws the 28x28
// image the service returns (return_input=true), so the service stays the one place where that
// conversion, and the search for the hand, are defined. The "Explain" overlay is in explain.js.
"use strict";

const KEY_STORE = "asl-recog-key";  // sessionStorage: forgotten when the tab closes
const $ = (id) => document.getElementById(id);
const state = { blob: null, name: "image.png", width: 0, height: 0, crop: null, cropNote: "", url: null, pending: 0 };

// ---- key ---------------------------------------------------------------------------------------
function key() {
  const stored = sessionStorage.getItem(KEY_STORE);
  if (stored) { return stored; }
  // A key typed but not yet confirmed (no Enter, no button): the person meant it, so use and keep it.
  const typed = $("key").value.trim();
  if (typed) {
    sessionStorage.setItem(KEY_STORE, typed);
    $("key").value = "";
    keySaved();
  }
  return typed;
}

function showKeyForm(message) {
  $("key-form").hidden = false;
  $("key-status").hidden = true;
  const error = $("key-error");
  error.textContent = message || "";
  error.hidden = !message;
  if (message) { $("key").focus(); }
}

function keySaved() {
  $("key-form").hidden = true;
  $("key-status").hidden = false;
  $("key-error").hidden = true;
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("key").value.trim();
  if (value) { sessionStorage.setItem(KEY_STORE, value); } else { sessionStorage.removeItem(KEY_STORE); }
  $("key").value = "";
  keySaved();
  if (state.blob) { score(); }
});
$("key-change").addEventListener("click", () => showKeyForm(""));
if (key()) { keySaved(); }

// ---- image sources -------------------------------------------------------------------------------
function sourceError(message) {
  $("source-error").textContent = message;
  $("source-error").hidden = !message;
}

function useBlob(blob, name) {
  if (!/^image\/(png|jpeg)$/.test(blob.type)) {
    sourceError(`${name} is not a PNG or JPEG image (${blob.type || "unknown type"}); choose a photo.`);
    return;
  }
  sourceError("");
  if (state.url) { URL.revokeObjectURL(state.url); }
  state.blob = blob;
  state.name = name;
  state.url = URL.createObjectURL(blob);
  const picture = $("picture");
  picture.onload = () => {
    // naturalWidth/Height are those of the upright image (the browser applies EXIF orientation),
    // the same pixels the service's crop box is measured in.
    state.width = picture.naturalWidth;
    state.height = picture.naturalHeight;
    state.crop = null;  // no box yet: the service looks for the hand, and its answer places the box
    cropBox.hidden = true;
    $("crop-position").textContent = "Looking for the hand…";
    $("work-section").hidden = false;
    score();
  };
  picture.onerror = () => sourceError(`${name} could not be read as an image; choose another photo.`);
  picture.src = state.url;
}

$("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) { useBlob(file, file.name); }
  event.target.value = "";  // choosing the same file again is a new choice
});

const drop = $("drop-zone");
["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => {
  event.preventDefault();
  drop.classList.add("dragging");
}));
["dragleave", "drop"].forEach((type) => drop.addEventListener(type, () => drop.classList.remove("dragging")));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (file) { useBlob(file, file.name); }
});

function canvasToBlob(canvas, name) {
  canvas.toBlob((blob) => useBlob(blob, name), "image/png");
}

// Webcam
let stream = null;
$("camera-start").addEventListener("click", async () => {
  if (stream) {  // the button stops a running camera
    stream.getTracks().forEach((track) => track.stop());
    stream = null;
    $("video").hidden = true;
    $("snapshot").disabled = true;
    $("camera-start").textContent = "Start camera";
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    sourceError(`The camera could not be started (${error.name}): allow camera access for this page, or upload a photo.`);
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  video.hidden = false;
  $("snapshot").disabled = false;
  $("camera-start").textContent = "Stop camera";
});
$("snapshot").addEventListener("click", () => {
  const video = $("video");
  if (!video.videoWidth) { sourceError("The camera has not sent a picture yet; try again in a moment."); return; }
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvasToBlob(canvas, "webcam.png");
});

// Drawing
const draw = $("draw");
const pen = draw.getContext("2d");
function clearDrawing() {
  pen.fillStyle = "#fff";
  pen.fillRect(0, 0, draw.width, draw.height);
}
clearDrawing();
let drawing = false;
function penAt(event) {
  const box = draw.getBoundingClientRect();
  return [(event.clientX - box.left) * draw.width / box.width, (event.clientY - box.top) * draw.height / box.height];
}
draw.addEventListener("pointerdown", (event) => {
  drawing = true;
  draw.setPointerCapture(event.pointerId);
  pen.beginPath();
  pen.moveTo(...penAt(event));
});
draw.addEventListener("pointermove", (event) => {
  if (!drawing) { return; }
  pen.lineWidth = 14;
  pen.lineCap = pen.lineJoin = "round";
  pen.strokeStyle = "#000";
  pen.lineTo(...penAt(event));
  pen.stroke();
});
["pointerup", "pointercancel"].forEach((type) => draw.addEventListener(type, () => { drawing = false; }));
$("clear-drawing").addEventListener("click", clearDrawing);
$("use-drawing").addEventListener("click", () => canvasToBlob(draw, "drawing.png"));

// ---- crop box ------------------------------------------------------------------------------------
const cropBox = $("crop");

function scale() { return $("picture").clientWidth / state.width; }

function clampCrop() {
  const c = state.crop;
  const side = Math.max(8, Math.min(Math.round(c.w), state.width, state.height));
  c.w = c.h = side;  // square, as the data set's images are
  c.x = Math.round(Math.min(Math.max(0, c.x), state.width - side));
  c.y = Math.round(Math.min(Math.max(0, c.y), state.height - side));
}

function placeCrop() {
  clampCrop();
  const s = scale(), c = state.crop;
  Object.assign(cropBox.style, { left: `${c.x * s}px`, top: `${c.y * s}px`, width: `${c.w * s}px`, height: `${c.h * s}px` });
  $("crop-position").textContent =
    `Crop box: ${c.w}×${c.h} pixels at x ${c.x}, y ${c.y} of a ${state.width}×${state.height} image.${state.cropNote}`;
}

let rescoreTimer = null;
function cropChanged() {
  state.cropNote = "";  // the person's box now, not the one the service found
  placeCrop();
  clearTimeout(rescoreTimer);
  rescoreTimer = setTimeout(score, 250);  // one request when the box stops moving
}

let drag = null;
cropBox.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  cropBox.focus();
  cropBox.setPointerCapture(event.pointerId);
  drag = { resize: event.target.id === "crop-handle", x: event.clientX, y: event.clientY, start: { ...state.crop } };
});
cropBox.addEventListener("pointermove", (event) => {
  if (!drag) { return; }
  const dx = (event.clientX - drag.x) / scale(), dy = (event.clientY - drag.y) / scale();
  if (drag.resize) {
    state.crop.w = state.crop.h = drag.start.w + Math.max(dx, dy);
  } else {
    state.crop.x = drag.start.x + dx;
    state.crop.y = drag.start.y + dy;
  }
  placeCrop();
});
["pointerup", "pointercancel"].forEach((type) => cropBox.addEventListener(type, () => {
  if (drag) { drag = null; cropChanged(); }
}));
cropBox.addEventListener("keydown", (event) => {
  const step = Math.max(1, Math.round(Math.min(state.width, state.height) / 40));
  const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  const move = moves[event.key];
  if (!move) { return; }
  event.preventDefault();
  if (event.shiftKey) {  // Shift + right/down grows the box, left/up shrinks it
    const grow = (move[0] + move[1]) * step;
    state.crop.w = state.crop.h = state.crop.w + grow;
  } else {
    state.crop.x += move[0] * step;
    state.crop.y += move[1] * step;
  }
  cropChanged();
});
window.addEventListener("resize", () => { if (state.crop) { placeCrop(); } });

// The box the service cut out of a new photo: the hand it found, else its centred square.
function boxFromAnswer(body) {
  const hand = body.hand ? body.hand[0] : null;
  if (hand) {
    state.crop = { x: hand.x, y: hand.y, w: hand.width, h: hand.height };
  } else {
    const side = Math.min(state.width, state.height);
    state.crop = { x: Math.floor((state.width - side) / 2), y: Math.floor((state.height - side) / 2), w: side, h: side };
  }
  state.cropNote = !body.hand ? "" : hand
    ? ` The box starts on the hand found in the photo (${percent(hand.score)} sure).`
    : " No hand was found in the photo: the box starts on its centre; move it onto the hand.";
  cropBox.hidden = false;
  placeCrop();
}

// ---- scoring -------------------------------------------------------------------------------------
function percent(p) { return `${(100 * p).toFixed(1)}%`; }

function showInput(pixels) {
  const canvas = $("model-input");
  const image = canvas.getContext("2d").createImageData(28, 28);
  pixels.forEach((value, i) => {
    image.data.set([value, value, value, 255], 4 * i);
  });
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function unknownNote(reason, best, threshold) {
  if (reason === "no_hand") {
    return "No hand found: the service found no hand in this picture, so it does not guess. " +
      "Move the box onto the hand (the model then reads the box as it is), or try a photo with the whole hand in view.";
  }
  return `Not sure: the best guess, ${best.letter} at ${percent(best.probability)}, is below the service's ` +
    `confidence threshold of ${percent(threshold)}. Frame the hand more tightly or try another picture.`;
}

function showAnswer(body) {
  const letter = body.letters[0];
  const top = body.top[0];
  const answer = $("answer");
  answer.textContent = letter;
  answer.classList.toggle("unknown", letter === "unknown");
  answer.dataset.reason = (body.reasons && body.reasons[0]) || "";
  $("answer-note").textContent = letter === "unknown"
    ? unknownNote(answer.dataset.reason, top[0], body.threshold)
    : (body.threshold != null ? `Above the confidence threshold of ${percent(body.threshold)}.` : "");
  const list = $("top");
  list.replaceChildren(...top.map((entry) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = entry.letter;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.style.width = percent(entry.probability);
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "pct";
    value.textContent = percent(entry.probability);
    item.append(name, bar, value);
    item.setAttribute("aria-label", `${entry.letter}: ${percent(entry.probability)}`);
    return item;
  }));
  showInput(body.input[0]);
  answer.dataset.state = "done";
}

function scoreError(message) {
  $("answer").dataset.state = "error";
  $("score-error").textContent = message;
  $("score-error").hidden = !message;
}

async function score() {
  if (!state.blob) { return; }
  const c = state.crop;  // null for a new photo: the service looks for the hand
  const ticket = ++state.pending;  // only the latest request's answer is shown
  $("answer").dataset.state = "busy";
  explanation.pending++;  // a map of the previous image or box must not be drawn over the new one
  clearOverlay("");
  $("result-section").hidden = false;
  const form = new FormData();
  form.append("file", state.blob, state.name);
  const headers = key() ? { Authorization: `Bearer ${key()}` } : {};
  let response, body;
  try {
    const box = c ? `&crop=${c.x},${c.y},${c.w},${c.h}` : "";
    response = await fetch(`/score?top_k=3&return_input=true${box}`, { method: "POST", headers, body: form });
    body = await response.json();
  } catch (error) {
    if (ticket === state.pending) { scoreError(`The service did not answer (${error.message}). Is asl-recog serve still running?`); }
    return;
  }
  if (ticket !== state.pending) { return; }
  if (response.status === 401) {
    scoreError("");
    $("answer").dataset.state = "unauthorized";
    showKeyForm(key()
      ? "The service refused this key (401 unauthorized). Enter the key that asl-recog serve printed, or the one in its --key-file."
      : "The service needs a key (401 unauthorized). Enter the key that asl-recog serve printed, or the one in its --key-file.");
    return;
  }
  if (!response.ok) {
    scoreError(`The service could not score this image (${response.status} ${body.error}): ${body.detail}`);
    return;
  }
  scoreError("");
  if (!c) { boxFromAnswer(body); }
  showAnswer(body);
  explanation.box = c ? `crop=${c.x},${c.y},${c.w},${c.h}` : "";
  $("explain").disabled = false;
  if (explanation.on) { explain(); }
}
