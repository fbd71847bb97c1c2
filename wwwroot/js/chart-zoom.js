// Drag across a chart's plot area to zoom into that x range; double-click to zoom out. The chart itself is SVG
// drawn by the server; this only turns mouse positions into fractions of the plot width for it, and tells the server
// the width the chart is shown at, so it draws in screen pixels: labels keep their size in a half-width column and in
// a full-width one alike (a fixed 800-unit drawing shrank them to 7 px beside another chart). The plot's left and right
// edges are read from the svg at each gesture, as the server last drew them.
export function attach(svg, dotnet) {
    const plot = () => [Number(svg.dataset.plotLeft), Number(svg.dataset.plotRight)];
    const toSvgX = (clientX) => {
        const point = svg.createSVGPoint();
        point.x = clientX; point.y = 0;
        return point.matrixTransform(svg.getScreenCTM().inverse()).x;
    };
    const fraction = (x) => {
        const [plotLeft, plotRight] = plot();
        return Math.min(1, Math.max(0, (x - plotLeft) / (plotRight - plotLeft)));
    };
    const brush = svg.querySelector('.studio-chart-brush');
    let start = null;
    const onDown = (e) => {
        if (e.button !== 0) return;
        start = toSvgX(e.clientX);
        brush.setAttribute('x', start); brush.setAttribute('width', 0); brush.style.display = 'block';
        e.preventDefault();
    };
    const onMove = (e) => {
        if (start === null) return;
        const x = toSvgX(e.clientX);
        brush.setAttribute('x', Math.min(start, x)); brush.setAttribute('width', Math.abs(x - start));
    };
    const onUp = (e) => {
        if (start === null) return;
        const end = toSvgX(e.clientX);
        brush.style.display = 'none';
        const a = fraction(Math.min(start, end)), b = fraction(Math.max(start, end));
        start = null;
        if (b - a > 0.01) dotnet.invokeMethodAsync('ZoomTo', a, b);
    };
    const onDouble = () => dotnet.invokeMethodAsync('ResetZoom');
    svg.addEventListener('mousedown', onDown);
    window.addEventListener('mousemove', onMove);
    window.addEventListener('mouseup', onUp);
    svg.addEventListener('dblclick', onDouble);
    const width = observeWidth(svg, dotnet);
    return {
        detach: () => {
            width.detach();
            svg.removeEventListener('mousedown', onDown);
            window.removeEventListener('mousemove', onMove);
            window.removeEventListener('mouseup', onUp);
            svg.removeEventListener('dblclick', onDouble);
        },
    };
}

// Tells the server the width an svg is shown at (its Resized method), each time it changes by a few pixels, so the
// server draws it in screen pixels (the line charts, the heat maps).
export function observeWidth(svg, dotnet) {
    let drawnWidth = 0;
    const observer = new ResizeObserver((entries) => {
        const width = Math.round(entries[0].contentRect.width);
        if (width > 0 && Math.abs(width - drawnWidth) >= 4) { drawnWidth = width; dotnet.invokeMethodAsync('Resized', width); }
    });
    observer.observe(svg);
    return { detach: () => observer.disconnect() };
}
