using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class MetricGradNormByModule : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "GradNormByModuleJson",
                table: "MetricPoints",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "GradNormByModuleJson",
                table: "MetricPoints");
        }
    }
}
