// The page's "Explain" overlay (loaded after page.js, whose state, key() and percent() it uses).
// It sends the upload and box of the answer shown to /explain, so the service explains the same
// 28x28 it scored, and draws the occlusion map it answers over that image, on a canvas of its own:
// turning it off leaves the image as scored. page.js calls explain() after each answer.
"use strict";

// The overlay: whether it is on, the box of the answer shown ("" for a new photo: the service finds the
// hand again, as it did for that answer), and the latest request, so that only its map is drawn.
const explanation = { on: false, box: "", pending: 0 };

function clearOverlay(note) {
  const overlay = $("explain-overlay");
  overlay.getContext("2d").clearRect(0, 0, 28, 28);
  overlay.hidden = true;
  overlay.dataset.state = "";
  $("explain-note").textContent = note || "";
}

// Red where hiding the pixels lowers the answer's probability, blue where it raises it; the
// stronger the effect, the less transparent, scaled to this map's largest value.
function drawOverlay(heatmap) {
  const values = heatmap.flat();
  const limit = Math.max(1e-6, ...values.map(Math.abs));
  const overlay = $("explain-overlay");
  const pen = overlay.getContext("2d");
  const image = pen.createImageData(28, 28);
  values.forEach((value, i) => {
    const alpha = Math.round(200 * Math.min(1, Math.abs(value) / limit));
    image.data.set(value >= 0 ? [220, 38, 38, alpha] : [37, 99, 235, alpha], 4 * i);
  });
  pen.putImageData(image, 0, 0);
  overlay.hidden = false;
  overlay.dataset.state = "drawn";
}

async function explain() {
  if (!state.blob || !explanation.on) { return; }
  const ticket = ++explanation.pending;
  clearOverlay("Finding which pixels the answer rests on…");
  const form = new FormData();
  form.append("file", state.blob, state.name);
  const headers = key() ? { Authorization: `Bearer ${key()}` } : {};
  let response, body;
  try {
    response = await fetch(`/explain${explanation.box ? "?" + explanation.box : ""}`, { method: "POST", headers, body: form });
    body = await response.json();
  } catch (error) {
    if (ticket === explanation.pending) { clearOverlay(`The service did not answer (${error.message}).`); }
    return;
  }
  if (ticket !== explanation.pending || !explanation.on) { return; }
  if (!response.ok) {
    clearOverlay(`The service could not explain this image (${response.status} ${body.error}): ${body.detail}`);
    if (response.status === 401) { showKeyForm("The service refused this key (401 unauthorized). Enter the key that asl-recog serve printed."); }
    return;
  }
  drawOverlay(body.heatmap);
  $("explain-note").textContent = `Red: hiding these pixels lowers the probability of ${body.letter} ` +
    `(${percent(body.probability)}); blue: hiding them raises it.`;
}

$("explain").addEventListener("click", () => {
  explanation.on = !explanation.on;
  $("explain").setAttribute("aria-pressed", String(explanation.on));
  if (explanation.on) { explain(); } else { explanation.pending++; clearOverlay(""); }
});
