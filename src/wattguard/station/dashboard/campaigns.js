// The dashboard's campaigns view (issue #15): firmware, key and certificate campaigns with
// their state, wave and each step's count of meters; a supervisor uploads a vendor-signed
// image and starts a firmware campaign over a district here, a second supervisor approves
// it, and the waves are started (or the campaign stopped) from its row. The API decides
// (roles, the second person, the vendor's signature); the form is only offered to
// supervisors. Loaded after dashboard.js, whose `api`, `token`, `$`, `cell`, `fill`, `say`
// and `explain` it uses; it builds its own section, so index.html only loads it. Every text
// from the API is written with textContent.
"use strict";

function campaignSection() {
  let section = $("campaigns-section");
  if (section) return section;
  section = document.createElement("section");
  section.id = "campaigns-section";
  const heading = document.createElement("h2");
  heading.textContent = "Campaigns (firmware, keys, certificates)";
  const form = document.createElement("form");
  form.id = "campaign-form";
  form.className = "inline";
  form.hidden = true;
  form.innerHTML =
    '<label for="campaign-image">vendor-signed image</label> ' +
    '<input id="campaign-image" type="file"> ' +
    '<label for="campaign-district">to every meter of</label> ' +
    '<select id="campaign-district"></select> ' +
    '<label for="campaign-canary">canary %</label> ' +
    '<input id="campaign-canary" type="number" min="1" max="100" step="1" value="10"> ' +
    '<label><input id="campaign-auto" type="checkbox" checked> next wave by itself</label> ' +
    '<button type="submit" id="campaign-create">Upload and create</button>';
  form.addEventListener("submit", createCampaign);
  const message = document.createElement("p");
  message.id = "campaign-message";
  message.className = "notice";
  message.setAttribute("role", "status");
  const table = document.createElement("table");
  table.innerHTML =
    '<thead><tr><th class="number">id</th><th>campaign</th><th>target</th><th>state</th>' +
    "<th>wave</th><th>meters</th><th></th></tr></thead>";
  const body = document.createElement("tbody");
  body.id = "campaigns";
  body.addEventListener("click", campaignAction);
  table.append(body);
  section.append(heading, form, message, table);
  document.querySelector("main").append(section);
  return section;
}

function campaignButton(label, action, id) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.dataset.campaignAction = action;
  element.dataset.campaign = String(id);
  return element;
}

function showCampaigns(campaigns) {
  const supervisor = document.body.dataset.role === "supervisor";
  fill("campaigns", campaigns, (row, c) => {
    cell(row, c.id, "number");
    cell(row, c.kind);
    cell(row, c.target);
    cell(row, c.state, "state-" + c.state.replace(/ /g, "-"));
    cell(row, Math.min(c.wave + 1, c.waves) + " of " + c.waves);
    cell(row, Object.entries(c.counts).map(([step, n]) => n + " " + step).join(", "));
    const actions = cell(row, "");
    if (!supervisor) return;
    if (c.state === "awaiting approval") {
      actions.append(campaignButton("Approve", "approve", c.id), " ",
        campaignButton("Reject", "reject", c.id));
    }
    if (c.state === "approved" || c.state === "wave done") {
      actions.append(campaignButton(c.state === "approved" ? "Start" : "Next wave", "start", c.id));
    }
    if (c.state === "running" || c.state === "wave done") {
      actions.append(" ", campaignButton("Stop", "stop", c.id));
    }
  }, "No campaigns yet.");
}

function base64(bytes) {
  let text = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(at, at + 0x8000));
  }
  return btoa(text);
}

async function createCampaign(event) {
  event.preventDefault();
  const file = $("campaign-image").files[0];
  const district = $("campaign-district").value;
  if (!file || !district) {
    say("campaign-message", file ? "No district is known yet." : "Choose the image file first.",
      "error");
    return;
  }
  try {
    const image = base64(new Uint8Array(await file.arrayBuffer()));
    const stored = await api("/api/firmware", "POST", { image });
    const body = {
      kind: "firmware upgrade", image: stored.digest, districts: [district],
      canary_share: Number($("campaign-canary").value) / 100, wave_sizes: [10000],
      auto_advance: $("campaign-auto").checked,
    };
    const made = await api("/api/campaigns", "POST", body);
    say("campaign-message", "Campaign " + made.id + " (firmware " + stored.version + ", " +
      made.meters.length + " meters): " + made.state + ".", "ok");
  } catch (error) {
    say("campaign-message", explain(error), "error");
  }
  refreshCampaigns();
}

async function campaignAction(event) {
  const target = event.target.closest("button[data-campaign-action]");
  if (target === null) return;
  const id = encodeURIComponent(target.dataset.campaign);
  try {
    const c = await api("/api/campaigns/" + id + "/" + target.dataset.campaignAction, "POST");
    say("campaign-message", "Campaign " + c.id + ": " + c.state + ".", "ok");
  } catch (error) {
    say("campaign-message", explain(error), "error");
  }
  refreshCampaigns();
}

async function refreshCampaigns() {
  if (!token()) return;
  campaignSection();
  $("campaign-form").hidden = document.body.dataset.role !== "supervisor";
  const districts = $("command-district");
  const select = $("campaign-district");
  if (districts && select.options.length !== districts.options.length) {
    select.replaceChildren(...Array.from(districts.options, (o) => new Option(o.text, o.value)));
  }
  try {
    showCampaigns(await api("/api/campaigns"));
  } catch (error) {
    say("campaign-message", explain(error), "error");
  }
}

document.addEventListener("wattguard-refreshed", refreshCampaigns);
