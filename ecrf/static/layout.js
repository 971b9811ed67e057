// Small screens: the header's Menu button, and tables that scroll inside their own box.
// Without this script the button stays hidden and the links simply wrap (see ecrf.css).
(function () {
  'use strict';
  const narrow = window.matchMedia('(max-width: 767.98px)');

  // Under 768 px the Menu button folds the site links away and shows them on demand.
  const button = document.querySelector('.menu-toggle');
  const show = (open) => button && button.setAttribute('aria-expanded', open ? 'true' : 'false');
  if (button) {
    button.hidden = false;
    show(!narrow.matches);
    button.addEventListener('click', () => show(button.getAttribute('aria-expanded') !== 'true'));
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && narrow.matches && button.getAttribute('aria-expanded') === 'true') {
        show(false);
        button.focus();
      }
    });
  }

  // A box that scrolls sideways must be reachable by keyboard to be scrolled: focusable only while it overflows.
  const scrollers = () => document.querySelectorAll('main table, main .scroll');
  const markScrollable = () => scrollers().forEach((box) => {
    if (box.scrollWidth > box.clientWidth + 1) box.setAttribute('tabindex', '0');
    else box.removeAttribute('tabindex');
  });
  markScrollable();
  window.addEventListener('resize', markScrollable);
  // Crossing the breakpoint (a rotated phone) resets the menu to what suits the new width.
  narrow.addEventListener('change', (event) => show(!event.matches));
}());
