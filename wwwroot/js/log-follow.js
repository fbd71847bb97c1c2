// Log boxes (.studio-log, the run page's Log tab) follow new lines as `tail -f` does while they are scrolled to the
// bottom; scrolled up to read, they stay where they are until scrolled back down. Plain DOM: the lines are rendered by
// the server, this only moves the scroll position.
(() => {
    const following = new WeakMap();
    const atBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    const watch = (box) => {
        if (following.has(box)) return;
        following.set(box, true);
        box.addEventListener('scroll', () => following.set(box, atBottom(box)));
        new MutationObserver(() => { if (following.get(box)) box.scrollTop = box.scrollHeight; })
            .observe(box, { childList: true, subtree: true, characterData: true });
        box.scrollTop = box.scrollHeight;
    };
    const scan = () => document.querySelectorAll('.studio-log').forEach(watch);
    new MutationObserver(scan).observe(document.documentElement, { childList: true, subtree: true });
    scan();
})();
