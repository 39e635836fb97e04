// Batch page uploads: one request per file, with its own progress bar and a retry button.
(function () {
  const drop = document.getElementById("drop");
  if (!drop) return;
  const url = drop.dataset.uploadUrl;
  const maxBytes = Number(drop.dataset.maxBytes);
  const csrf = drop.querySelector("input[name=csrfmiddlewaretoken]").value;
  const list = document.getElementById("uploads");
  const queue = [];
  let running = 0;
  const PARALLEL = 3;

  function row(file) {
    const li = document.createElement("li");
    li.innerHTML = '<span class="name"></span> <progress max="100" value="0"></progress> <span class="state">waiting</span>';
    li.querySelector(".name").textContent = file.webkitRelativePath || file.name;
    list.appendChild(li);
    return li;
  }

  function send(item) {
    running += 1;
    const { file, li } = item;
    const state = li.querySelector(".state");
    const bar = li.querySelector("progress");
    if (file.size > maxBytes) { state.textContent = "too large"; running -= 1; next(); return; }
    const form = new FormData();
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
    xhr.onload = () => {
      running -= 1;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { /* not JSON */ }
      if (xhr.status === 201) { bar.value = 100; state.textContent = "stored"; }
      else if (xhr.status === 422) { state.textContent = "rejected: " + (body.error || ""); }
      else failed(item, "failed (" + xhr.status + ")");
      next();
    };
    xhr.onerror = () => { running -= 1; failed(item, "network error"); next(); };
    state.textContent = "uploading";
    xhr.send(form);
  }

  function failed(item, text) {
    const state = item.li.querySelector(".state");
    state.textContent = text + " ";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Retry";
    retry.onclick = () => { retry.remove(); queue.push(item); next(); };
    state.appendChild(retry);
  }

  function next() {
    while (running < PARALLEL && queue.length) send(queue.shift());
  }

  function add(files) {
    for (const file of files) queue.push({ file, li: row(file) });
    next();
  }

  document.getElementById("pick-files").addEventListener("change", (e) => add(e.target.files));
  document.getElementById("pick-folder").addEventListener("change", (e) => add(e.target.files));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); add(e.dataTransfer.files); });
})();
