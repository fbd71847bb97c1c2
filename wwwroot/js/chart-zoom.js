// Drag across a chart's plot area to zoom into that x range; double-click to zoom out. The chart itself is SVG
// drawn by the server; this only turns mouse positions into fractions of the plot width for it.
export function attach(svg, dotnet, plotLeft, plotRight) {
    const toSvgX = (clientX) => {
        const point = svg.createSVGPoint();
        point.x = clientX; point.y = 0;
        return point.matrixTransform(svg.getScreenCTM().inverse()).x;
    };
    const fraction = (x) => Math.min(1, Math.max(0, (x - plotLeft) / (plotRight - plotLeft)));
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
    return {
        detach: () => {
            svg.removeEventListener('mousedown', onDown);
            window.removeEventListener('mousemove', onMove);
            window.removeEventListener('mouseup', onUp);
            svg.removeEventListener('dblclick', onDouble);
        },
    };
}
