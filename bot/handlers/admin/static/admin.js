/* Escalator admin dashboard: charts and the live template preview.
 *
 * Served as a file of its own (the Content-Security-Policy allows no inline script): pages hand
 * their data over as JSON in <script type="application/json"> elements, read here. Charts are
 * drawn by Chart.js (static/vendor), never by hand.
 */
"use strict";

(function () {
  const palette = {
    now: "#2563eb",
    reached: "#93c5fd",
    score: "#16a34a",
    responses: "#d1d5db",
    series: ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2"],
  };

  function readJson(element) {
    return element ? JSON.parse(element.textContent) : null;
  }

  function overviewCharts() {
    const data = readJson(document.getElementById("overview-data"));
    if (!data || typeof Chart === "undefined") {
      return;
    }
    const funnel = document.getElementById("funnel-chart");
    if (funnel) {
      new Chart(funnel, {
        type: "bar",
        data: {
          labels: data.funnel.labels,
          datasets: [
            { label: "Now on this step", data: data.funnel.now, backgroundColor: palette.now },
            {
              label: "Reached this step or higher",
              data: data.funnel.reached,
              backgroundColor: palette.reached,
            },
          ],
        },
        options: {
          indexAxis: "y",
          maintainAspectRatio: false,
          animation: false,
          plugins: {
            tooltip: {
              callbacks: {
                afterBody: function (items) {
                  const share = data.funnel.conversion[items[0].dataIndex];
                  return share === null ? "" : "conversion from the step below: " + share + "%";
                },
              },
            },
          },
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    }
    const score = document.getElementById("score-chart");
    if (score) {
      const nps = data.scale === "nps";
      new Chart(score, {
        data: {
          labels: data.weeks.labels,
          datasets: [
            {
              type: "line",
              label: nps ? "NPS" : "CSAT %",
              data: data.weeks.score,
              borderColor: palette.score,
              backgroundColor: palette.score,
              spanGaps: true,
              yAxisID: "score",
            },
            {
              type: "bar",
              label: "Ratings",
              data: data.weeks.responses,
              backgroundColor: palette.responses,
              yAxisID: "ratings",
            },
          ],
        },
        options: {
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            score: { position: "left", min: nps ? -100 : 0, max: 100 },
            ratings: {
              position: "right",
              beginAtZero: true,
              ticks: { precision: 0 },
              grid: { drawOnChartArea: false },
            },
          },
        },
      });
    }
  }

  function reportCharts() {
    if (typeof Chart === "undefined") {
      return;
    }
    document.querySelectorAll("canvas.report-chart").forEach(function (canvas) {
      const chart = readJson(canvas.parentElement.querySelector(".report-chart-data"));
      new Chart(canvas, {
        type: chart.kind,
        data: {
          labels: chart.labels,
          datasets: chart.series.map(function (series, index) {
            const colour = palette.series[index % palette.series.length];
            return {
              label: series.label,
              data: series.values,
              backgroundColor: colour,
              borderColor: colour,
            };
          }),
        },
        options: { maintainAspectRatio: false, animation: false },
      });
    });
  }

  function livePreview() {
    const source = document.getElementById("source");
    if (!source || !source.dataset.preview) {
      return;
    }
    const customer = document.getElementById("preview-customer");
    const form = document.getElementById("template-form");
    const csrf = form.querySelector("input[name=csrf]").value;
    const problems = document.getElementById("problems");
    const failed = document.getElementById("preview-failed");
    let timer = null;
    let asked = 0;

    async function refresh() {
      const ticket = ++asked;
      let answer;
      try {
        const response = await fetch(source.dataset.preview, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify({ source: source.value, customer: customer ? customer.value : "" }),
        });
        if (!response.ok) {
          return;
        }
        answer = await response.json();
      } catch (error) {
        return;
      }
      if (ticket !== asked) {
        return; // a newer draft was sent meanwhile
      }
      // The Telegram HTML was cleaned on the server (nh3): only Telegram's own tags remain.
      document.getElementById("preview-telegram").innerHTML = answer.telegram;
      document.getElementById("preview-slack").textContent = answer.slack;
      document.getElementById("preview-for").textContent = answer.for;
      failed.textContent = answer.failed;
      failed.hidden = !answer.failed;
      problems.replaceChildren();
      answer.problems.forEach(function (problem) {
        const item = document.createElement("li");
        item.textContent = problem;
        problems.appendChild(item);
      });
      if (answer.problems.length) {
        source.setAttribute("aria-invalid", "true");
      } else {
        source.removeAttribute("aria-invalid");
      }
    }

    function soon() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    }

    source.addEventListener("input", soon);
    if (customer) {
      customer.addEventListener("input", soon);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    overviewCharts();
    reportCharts();
    livePreview();
  });
})();
