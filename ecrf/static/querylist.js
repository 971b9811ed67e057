// The query list: one box ticks or clears every query on the page. Without this script the box stays hidden
// and each query is ticked on its own.
(function () {
  'use strict';
  const all = document.getElementById('pick-all');
  if (!all) return;
  const boxes = () => document.querySelectorAll('input[name="ids"][form="bulk"]');
  all.hidden = false;
  all.addEventListener('change', () => boxes().forEach((box) => { box.checked = all.checked; }));
  document.addEventListener('change', (event) => {
    if (event.target.name !== 'ids') return;
    const ticked = [...boxes()].filter((box) => box.checked).length;
    all.checked = ticked > 0 && ticked === boxes().length;
    all.indeterminate = ticked > 0 && ticked < boxes().length;
  });
}());
