using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class GenerationTrueCfg : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "NegativePrompt",
                table: "Generations",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<double>(
                name: "TrueCfgScale",
                table: "Generations",
                type: "REAL",
                nullable: false,
                defaultValue: 1.0); // rows made before true CFG: scale 1, off (edited from the generated 0.0)
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "NegativePrompt",
                table: "Generations");

            migrationBuilder.DropColumn(
                name: "TrueCfgScale",
                table: "Generations");
        }
    }
}
